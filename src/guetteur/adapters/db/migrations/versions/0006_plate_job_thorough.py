"""plate jobs may be thorough (every sub-stream frame looked at)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('plate_job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('thorough', sa.Boolean(), server_default=sa.false(), nullable=False, comment='every sub-stream frame looked at: vehicles crossing between keyframes too'))


def downgrade() -> None:
    with op.batch_alter_table('plate_job', schema=None) as batch_op:
        batch_op.drop_column('thorough')
