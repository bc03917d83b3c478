"""Calls an operator starts from the console (click-to-call) and shift handover notes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from .types import enum_field, json_field


class CallState(StrEnum):
    """Life of a console call: the operator's phone rings first, then the callee's is dialled."""

    REQUESTED = "requested"  # written before Twilio is asked
    RINGING_OPERATOR = "ringing_operator"  # Twilio took it: the operator's phone rings
    CONNECTING = "connecting"  # the operator answered: the callee's phone rings
    TALKED = "talked"  # the callee answered; the bridge has ended
    CALLEE_BUSY = "callee_busy"
    CALLEE_NO_ANSWER = "callee_no_answer"
    CALLEE_FAILED = "callee_failed"
    OPERATOR_MISSED = "operator_missed"  # the operator's own phone did not answer
    LEG_ENDED = "leg_ended"  # the operator's leg ended and no result for the callee came
    NOT_PLACED = "not_placed"  # Twilio refused the request

    @property
    def is_final(self) -> bool:
        """Nothing more will happen to this call."""
        return self not in (CallState.REQUESTED, CallState.RINGING_OPERATOR, CallState.CONNECTING)


class ConsoleCall(SQLModel, table=True):
    """One click-to-call. The callee is a reference (resident, gp, contact:<id>), not a number:
    the number is read from the resident's card when the operator answers, so nothing here
    outlives the card's own retention and erasure."""

    __tablename__ = "console_call"

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", index=True)
    operator: str = Field(max_length=64)  # the operator's sign-in name
    operator_phone: str = Field(max_length=20)  # rung first: the account's phone or the desk line
    callee: str = Field(max_length=40)  # "resident", "gp" or "contact:<id>"
    state: str = enum_field(CallState.REQUESTED.value)
    provider_sid: str | None = Field(default=None, max_length=64, index=True)
    dial_sid: str | None = Field(default=None, max_length=64)
    talk_seconds: int | None = None
    created_at: datetime
    ended_at: datetime | None = None


class HandoverNote(SQLModel, table=True):
    """A shift handover: free text and the alerts open when it was written. Rows are kept."""

    __tablename__ = "handover_note"

    id: int | None = Field(default=None, primary_key=True)
    author: str = Field(max_length=64)  # the operator's sign-in name
    text: str = Field(sa_type=Text)
    open_alerts: list[dict[str, Any]] = json_field(list)  # id, type, severity, resident, status
    open_count: int | None = None  # all the alerts open then (None: an older note kept them all)
    created_at: datetime = Field(index=True)
