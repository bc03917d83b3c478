"""alert.first_notified_at: when the first alert SMS or call was accepted by Twilio

Revision ID: 0003_first_notified_at
Revises: 0002_auth_throttle
Create Date: 2026-12-06 02:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0003_first_notified_at'
down_revision: str | None = '0002_auth_throttle'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_notified_at', sqlmodel.sql.sqltypes.UTCDateTime(),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_column('first_notified_at')
