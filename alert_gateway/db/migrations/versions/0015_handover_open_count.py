"""Handover notes count the alerts open when written (a note keeps the most urgent 50 of them:
after a disaster thousands are open, and every note listed them all)

Revision ID: 0015_handover
Revises: 0014_wbkey
Create Date: 2026-12-07 15:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0015_handover'
down_revision: str | None = '0014_wbkey'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # an older note kept every open alert: its list's length is its count
    op.add_column('handover_note', sa.Column('open_count', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column('handover_note', 'open_count')
