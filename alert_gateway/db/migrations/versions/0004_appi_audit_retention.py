"""APPI: audit log, retention and erasure marks

Revision ID: 0004_appi
Revises: 0003_first_notified_at
Create Date: 2026-12-06 03:30:00

Sealing key-safe codes and notes needs no schema change (same text columns); rows stored in clear
before it are sealed by `alert-gateway data rotate-key`, which needs the key this migration lacks.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0004_appi'
down_revision: str | None = '0003_first_notified_at'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('resident_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('detail', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entry_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entry_resident_id'), ['resident_id'], unique=False)
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.add_column(sa.Column('details_purged_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_column('details_purged_at')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entry_resident_id'))
        batch_op.drop_index(batch_op.f('ix_audit_entry_at'))
    op.drop_table('audit_entry')
