"""sign-in throttle shared by replicas (issue 12), optional API token expiry

Revision ID: 0002_auth_throttle
Revises: 0001
Create Date: 2026-12-06 03:06:28.547134
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0002_auth_throttle'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('signinthrottle',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('account', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('signinthrottle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signinthrottle_last_failure_at'), ['last_failure_at'], unique=False)
    with op.batch_alter_table('apitoken', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('apitoken', schema=None) as batch_op:
        batch_op.drop_column('expires_at')

    with op.batch_alter_table('signinthrottle', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signinthrottle_last_failure_at'))

    op.drop_table('signinthrottle')
