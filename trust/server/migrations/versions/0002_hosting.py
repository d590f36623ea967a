"""hosting relation (a platform's nodes hold a hosted FSP's records)

Revision ID: 0002_hosting
Revises: 0001
"""
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0002_hosting'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'hosting',
        sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('host_org_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('hosted_org_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('granted_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('granted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('revoked_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['host_org_id'], ['organisation.id']),
        sa.ForeignKeyConstraint(['hosted_org_id'], ['organisation.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('hosting', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hosting_host_org_id'), ['host_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_hosting_hosted_org_id'), ['hosted_org_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_hosting_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('hosting', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hosting_status'))
        batch_op.drop_index(batch_op.f('ix_hosting_hosted_org_id'))
        batch_op.drop_index(batch_op.f('ix_hosting_host_org_id'))
    op.drop_table('hosting')
