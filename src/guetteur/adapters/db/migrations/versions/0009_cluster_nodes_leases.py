"""cluster: nodes, camera leases with an epoch (fencing), where each segment's bytes are

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cluster_node',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('roles', sa.String(length=64), nullable=False, comment='comma-separated: recorder,web,worker'),
    sa.Column('version', sa.String(length=32), nullable=False),
    sa.Column('internal_url', sa.Text(), nullable=True, comment='where other nodes reach it (live relay, open segment); NULL: nowhere'),
    sa.Column('started_utc_us', sa.BigInteger(), nullable=False),
    sa.Column('heartbeat_utc_us', sa.BigInteger(), nullable=False),
    sa.Column('draining', sa.Boolean(), server_default=sa.false(), nullable=False, comment='asked to give its cameras away (maintenance): takes no lease'),
    sa.Column('stats', sa.Text(), nullable=False, comment='JSON: cpu, cameras held, upload spool, store errors...'),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_cluster_node'))
    )
    op.create_table('camera_lease',
    sa.Column('camera_id', sa.Integer(), nullable=False),
    sa.Column('stream', sa.String(length=8), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=True, comment='node holding it; NULL: released, free to take'),
    sa.Column('epoch', sa.BigInteger(), nullable=False),
    sa.Column('granted_utc_us', sa.BigInteger(), nullable=False),
    sa.Column('expires_utc_us', sa.BigInteger(), nullable=False, comment='renewed every few seconds'),
    sa.Column('released_reason', sa.String(length=32), nullable=True, comment='why the last owner let it go: node_drained|rebalance|stopped'),
    sa.Column('last_end_utc_us', sa.BigInteger(), nullable=True, comment="end of the last segment indexed under this lease: where the next owner's gap starts"),
    sa.ForeignKeyConstraint(['camera_id'], ['camera.id'], name=op.f('fk_camera_lease_camera_id_camera'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('camera_id', 'stream', name=op.f('pk_camera_lease'))
    )
    with op.batch_alter_table('segment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('store', sa.String(length=8), server_default='local', nullable=False, comment='where the bytes are: local (the node\'s disk) or s3 (the object store)'))
        batch_op.add_column(sa.Column('epoch', sa.BigInteger(), nullable=True, comment='lease epoch of the recorder that wrote it (fencing); NULL: single node, no lease'))


def downgrade() -> None:
    with op.batch_alter_table('segment', schema=None) as batch_op:
        batch_op.drop_column('epoch')
        batch_op.drop_column('store')
    op.drop_table('camera_lease')
    op.drop_table('cluster_node')
