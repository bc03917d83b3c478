"""Wellbeing calls (お元気コール): resident schedules and one row per schedule window

Revision ID: 0009_wellbeing
Revises: 0008_line
Create Date: 2026-12-06 06:30:00

Existing residents get no schedule (no calls), Asia/Tokyo and voice.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0009_wellbeing'
down_revision: str | None = '0008_line'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wellbeing_schedule', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('wellbeing_timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False, server_default='Asia/Tokyo'))
        batch_op.add_column(sa.Column('wellbeing_channel', sa.String(length=8), nullable=False, server_default='voice'))
    op.create_table('wellbeing_call',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('window_start', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('window_end', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('due_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('tries', sa.Integer(), nullable=False),
    sa.Column('attempt_id', sa.Integer(), nullable=True),
    sa.Column('alert_id', sa.Integer(), nullable=True),
    sa.Column('answered_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('finished_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alert.id'], ),
    sa.ForeignKeyConstraint(['attempt_id'], ['notificationattempt.id'], ),
    sa.ForeignKeyConstraint(['resident_id'], ['resident.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('resident_id', 'window_start', name='uq_wellbeing_resident_window')
    )
    with op.batch_alter_table('wellbeing_call', schema=None) as batch_op:
        batch_op.create_index('ix_wellbeing_due', ['state', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_wellbeing_call_resident_id'), ['resident_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('wellbeing_call', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wellbeing_call_resident_id'))
        batch_op.drop_index('ix_wellbeing_due')
    op.drop_table('wellbeing_call')
    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.drop_column('wellbeing_channel')
        batch_op.drop_column('wellbeing_timezone')
        batch_op.drop_column('wellbeing_schedule')
