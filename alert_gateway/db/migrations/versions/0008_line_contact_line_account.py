"""LINE: the contact's linked LINE user id and one-time link codes

Revision ID: 0008_line
Revises: 0007_calls
Create Date: 2026-12-06 06:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0008_line'
down_revision: str | None = '0007_calls'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('linelinkcode',
    sa.Column('code_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], ),
    sa.PrimaryKeyConstraint('code_hash')
    )
    with op.batch_alter_table('linelinkcode', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_linelinkcode_contact_id'), ['contact_id'], unique=False)
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('line_user_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_contact_line_user_id'), ['line_user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_line_user_id'))
        batch_op.drop_column('line_user_id')
    with op.batch_alter_table('linelinkcode', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_linelinkcode_contact_id'))
    op.drop_table('linelinkcode')
