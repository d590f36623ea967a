"""delegation of an FSP to a third-party platform (UC-05.04)

Revision ID: 0003_delegation
Revises: 0002_hosting
"""
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0003_delegation'
down_revision = '0002_hosting'
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        'delegation',
        sa.Column('id', text(length=40), nullable=False),
        sa.Column('org_id', text(), nullable=False),
        sa.Column('platform_app_id', text(), nullable=False),
        sa.Column('platform_org_id', text(), nullable=False),
        sa.Column('scopes', sa.JSON(), nullable=False),
        sa.Column('nodes', sa.JSON(), nullable=False),
        sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('status', text(), nullable=False),
        sa.Column('granted_by', text(), nullable=False),
        sa.Column('granted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('revoked_by', text(), nullable=True),
        sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['org_id'], ['organisation.id']),
        sa.ForeignKeyConstraint(['platform_org_id'], ['organisation.id']),
        sa.ForeignKeyConstraint(['platform_app_id'], ['application.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('delegation', schema=None) as batch_op:
        for column in ('org_id', 'platform_app_id', 'platform_org_id', 'status'):
            batch_op.create_index(batch_op.f(f'ix_delegation_{column}'), [column], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('delegation', schema=None) as batch_op:
        for column in ('org_id', 'platform_app_id', 'platform_org_id', 'status'):
            batch_op.drop_index(batch_op.f(f'ix_delegation_{column}'))
    op.drop_table('delegation')
