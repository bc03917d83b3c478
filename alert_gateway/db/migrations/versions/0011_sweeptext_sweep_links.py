"""Disaster sweep texts: the one-tap answer links in residents' sweep SMS, how each resident
answered (call, link or LINE), and a resident's own LINE link (codes for a resident or a contact)

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
    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('line_user_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_resident_line_user_id'), ['line_user_id'], unique=False)
    with op.batch_alter_table('linelinkcode', schema=None) as batch_op:
        batch_op.alter_column('contact_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('resident_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_linelinkcode_resident_id'), ['resident_id'], unique=False)
        batch_op.create_foreign_key('fk_linelinkcode_resident_id_resident', 'resident', ['resident_id'], ['id'])


def downgrade() -> None:
    op.execute("DELETE FROM linelinkcode WHERE contact_id IS NULL")
    with op.batch_alter_table('linelinkcode', schema=None) as batch_op:
        batch_op.drop_constraint('fk_linelinkcode_resident_id_resident', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_linelinkcode_resident_id'))
        batch_op.drop_column('resident_id')
        batch_op.alter_column('contact_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_resident_line_user_id'))
        batch_op.drop_column('line_user_id')
    with op.batch_alter_table('sweep_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sweep_link_entry_id'))
    op.drop_table('sweep_link')
    with op.batch_alter_table('sweep_entry', schema=None) as batch_op:
        batch_op.drop_column('answered_by')
