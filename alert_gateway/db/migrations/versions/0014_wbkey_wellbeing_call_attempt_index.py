"""Wellbeing calls indexed by attempt (a key pressed on a wellbeing call finds its window; the
table gains a row per resident and window, for good)

Revision ID: 0014_wbkey
Revises: 0013_sweeppg
Create Date: 2026-12-07 02:20:00
"""
from collections.abc import Sequence

from alembic import op


revision: str = '0014_wbkey'
down_revision: str | None = '0013_sweeppg'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f('ix_wellbeing_call_attempt_id'), 'wellbeing_call', ['attempt_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_wellbeing_call_attempt_id'), table_name='wellbeing_call')
