"""audit_head: nodes' published audit heads, append-only (trust/server/audit_heads.py)

Revision ID: 0004_audit_heads
Revises: 0003_delegation
"""
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0004_audit_heads'
down_revision = '0003_delegation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_head',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('node_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('sequence', sa.Integer(), nullable=False),
        sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('time', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('published_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('cert_serial', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('jws', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(['node_id'], ['node.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('node_id', 'sequence'),
    )
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_head_node_id'), ['node_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_head_node_id'))
    op.drop_table('audit_head')
