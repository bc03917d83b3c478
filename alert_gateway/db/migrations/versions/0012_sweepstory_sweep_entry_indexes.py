"""Sweep entries indexed by state and due time (the runner's looks read the few calls on the
line) and by attempt (a key pressed on a sweep call finds its entry)

Revision ID: 0012_sweepstory
Revises: 0011_sweeptext
Create Date: 2026-12-06 09:10:00
"""
from collections.abc import Sequence

from alembic import op


revision: str = '0012_sweepstory'
down_revision: str | None = '0011_sweeptext'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_sweep_entry_state_due', 'sweep_entry', ['state', 'due_at'], unique=False)
    op.create_index(op.f('ix_sweep_entry_attempt_id'), 'sweep_entry', ['attempt_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_sweep_entry_attempt_id'), table_name='sweep_entry')
    op.drop_index('ix_sweep_entry_state_due', table_name='sweep_entry')
