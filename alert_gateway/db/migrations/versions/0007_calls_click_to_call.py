"""Click-to-call, operator phones, the GP's phone and shift handover notes

Revision ID: 0007_calls
Revises: 0006_onetap
Create Date: 2026-12-06 06:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0007_calls'
down_revision: str | None = '0006_onetap'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('handover_note',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('author', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('open_alerts', sa.JSON(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('handover_note', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_handover_note_created_at'), ['created_at'], unique=False)

    op.create_table('console_call',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('operator', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('operator_phone', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('callee', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('provider_sid', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('dial_sid', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('talk_seconds', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('ended_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alert.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('console_call', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_call_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_console_call_provider_sid'), ['provider_sid'], unique=False)

    with op.batch_alter_table('operator', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch_op.add_column(sa.Column('last_sign_in_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))

    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('gp_phone', sqlmodel.sql.sqltypes.AutoString(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.drop_column('gp_phone')

    with op.batch_alter_table('operator', schema=None) as batch_op:
        batch_op.drop_column('last_sign_in_at')
        batch_op.drop_column('phone')

    with op.batch_alter_table('console_call', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_call_provider_sid'))
        batch_op.drop_index(batch_op.f('ix_console_call_alert_id'))

    op.drop_table('console_call')
    with op.batch_alter_table('handover_note', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handover_note_created_at'))

    op.drop_table('handover_note')
