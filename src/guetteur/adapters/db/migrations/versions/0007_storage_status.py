"""free space of each node's footage storage (space guard, decision 0009)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'storage_status',
        sa.Column('node', sa.String(length=64), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False, comment='ok|early_purge|low|full'),
        sa.Column('since_utc_us', sa.BigInteger(), nullable=False),
        sa.Column('free_bytes', sa.BigInteger(), nullable=False),
        sa.Column('total_bytes', sa.BigInteger(), nullable=False),
        sa.Column('min_free_bytes', sa.BigInteger(), nullable=False, comment='the watermark: below it footage is deleted before its retention'),
        sa.Column('message', sa.Text(), nullable=False, comment='in French, for administrators'),
        sa.Column('last_early_purge_utc_us', sa.BigInteger(), nullable=True),
        sa.Column('updated_utc_us', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('node', name=op.f('pk_storage_status')),
    )


def downgrade() -> None:
    op.drop_table('storage_status')
