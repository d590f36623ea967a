"""organisation: logo and privacy-policy URLs (IB1 directory schema:logo, ib1:privacyPolicy)

Revision ID: 0005_org_logo_privacy
Revises: 0004_audit_heads
"""
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = '0005_org_logo_privacy'
down_revision = '0004_audit_heads'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('logo', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('privacy_policy', sqlmodel.sql.sqltypes.AutoString(),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.drop_column('privacy_policy')
        batch_op.drop_column('logo')
