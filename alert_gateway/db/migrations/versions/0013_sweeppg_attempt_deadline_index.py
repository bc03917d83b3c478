"""Attempts in flight indexed by deadline on PostgreSQL (the dispatcher's deadline looks)

Revision ID: 0013_sweeppg
Revises: 0012_sweepstory
Create Date: 2026-12-06 20:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0013_sweeppg'
down_revision: str | None = '0012_sweepstory'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IN_FLIGHT = "status IN ('sending', 'queued', 'sent', 'ringing', 'in_progress', 'hanging_up')"


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.create_index('ix_attempt_deadline', 'notificationattempt', ['deadline_at'],
                        unique=False, postgresql_where=sa.text(IN_FLIGHT))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_attempt_deadline', table_name='notificationattempt')
