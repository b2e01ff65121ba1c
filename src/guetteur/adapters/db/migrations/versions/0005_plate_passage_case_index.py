"""plate passages indexed by case (commune mode searches always name one)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('plate_passage', schema=None) as batch_op:
        batch_op.create_index('ix_plate_passage_case_first', ['case_id', 'first_utc_us'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('plate_passage', schema=None) as batch_op:
        batch_op.drop_index('ix_plate_passage_case_first')
