"""one-tap answer links: hashed tokens bound to a contact and an alert

Revision ID: 0006_onetap
Revises: 0005_board_sound
Create Date: 2026-12-06 06:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0006_onetap'
down_revision: str | None = '0005_board_sound'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('answerlink',
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('answer', sa.String(length=16), nullable=True),
    sa.Column('answered_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alert.id'], ),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], ),
    sa.PrimaryKeyConstraint('token_hash')
    )
    with op.batch_alter_table('answerlink', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_answerlink_alert_id'), ['alert_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('answerlink', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_answerlink_alert_id'))
    op.drop_table('answerlink')
