"""Disaster sweep texts: the one-tap answer links in residents' sweep SMS, and how each resident
answered (call or link)

Revision ID: 0011_sweeptext
Revises: 0010_sweep
Create Date: 2026-12-06 09:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0011_sweeptext'
down_revision: str | None = '0010_sweep'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sweep_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answered_by', sa.String(length=8), nullable=True))
    op.create_table('sweep_link',
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('answer', sa.String(length=16), nullable=True),
    sa.Column('answered_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['entry_id'], ['sweep_entry.id'], ),
    sa.PrimaryKeyConstraint('token_hash')
    )
    with op.batch_alter_table('sweep_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sweep_link_entry_id'), ['entry_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sweep_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sweep_link_entry_id'))
    op.drop_table('sweep_link')
    with op.batch_alter_table('sweep_entry', schema=None) as batch_op:
        batch_op.drop_column('answered_by')
