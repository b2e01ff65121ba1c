"""login throttling counters shared by every web process (replaces the account lock)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_throttle',
    sa.Column('key', sa.String(length=200), nullable=False, comment='kind, account name and/or client address'),
    sa.Column('kind', sa.String(length=16), nullable=False, comment='pair|address|account|totp'),
    sa.Column('account', sa.String(length=64), nullable=True, comment='the name as typed (unknown names too): what an unlock clears'),
    sa.Column('client_addr', sa.String(length=64), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False, comment='since the count last restarted'),
    sa.Column('first_utc_us', sa.BigInteger(), nullable=False, comment='first failure counted'),
    sa.Column('last_utc_us', sa.BigInteger(), nullable=False, comment='latest failure counted'),
    sa.Column('blocked_until_utc_us', sa.BigInteger(), nullable=True, comment='refused until then; 2**62: until an administrator unlocks'),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttle'))
    )
    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.create_index('ix_login_throttle_account', ['account'], unique=False)
        batch_op.create_index('ix_login_throttle_last', ['last_utc_us'], unique=False)
    # the old per-account lock is no longer read: nobody stays locked by it after the upgrade
    op.execute("UPDATE user_account SET failed_logins = 0, locked_until_utc_us = NULL")


def downgrade() -> None:
    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.drop_index('ix_login_throttle_last')
        batch_op.drop_index('ix_login_throttle_account')
    op.drop_table('login_throttle')
