"""Disaster sweeps (災害時安否確認): sweeps, one entry per resident, and the at-risk flags

Revision ID: 0010_sweep
Revises: 0009_wellbeing
Create Date: 2026-12-06 07:30:00

Existing residents are neither bed-bound nor without a nearby contact until someone says so.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0010_sweep'
down_revision: str | None = '0009_wellbeing'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bed_bound', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('no_nearby_contact', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table('sweep',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('area_prefix', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('message_ja', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('message_en', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('started_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('finished_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('sweep_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sweep_id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('at_risk', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('due_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('tries', sa.Integer(), nullable=False),
    sa.Column('attempt_id', sa.Integer(), nullable=True),
    sa.Column('alert_id', sa.Integer(), nullable=True),
    sa.Column('answered_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('finished_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alert.id'], ),
    sa.ForeignKeyConstraint(['attempt_id'], ['notificationattempt.id'], ),
    sa.ForeignKeyConstraint(['resident_id'], ['resident.id'], ),
    sa.ForeignKeyConstraint(['sweep_id'], ['sweep.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sweep_id', 'resident_id', name='uq_sweep_entry_resident')
    )
    with op.batch_alter_table('sweep_entry', schema=None) as batch_op:
        batch_op.create_index('ix_sweep_entry_order', ['sweep_id', 'state', 'rank'], unique=False)
        batch_op.create_index(batch_op.f('ix_sweep_entry_resident_id'), ['resident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sweep_entry_sweep_id'), ['sweep_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sweep_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sweep_entry_sweep_id'))
        batch_op.drop_index(batch_op.f('ix_sweep_entry_resident_id'))
        batch_op.drop_index('ix_sweep_entry_order')
    op.drop_table('sweep_entry')
    op.drop_table('sweep')
    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.drop_column('no_nearby_contact')
        batch_op.drop_column('bed_bound')
