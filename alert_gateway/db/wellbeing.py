"""Scheduled wellbeing calls (お元気コール): one row per resident and schedule window.

The row is the scheduler's truth: a restart reads it and carries on, and the unique window key
makes planning the same window twice (a restart, another replica) a no-op.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from .types import enum_field


class WellbeingChannel(StrEnum):
    """How a wellbeing call reaches the resident (an answer needs a keypad: voice)."""

    VOICE = "voice"


class WellbeingState(StrEnum):
    """Where one window's wellbeing check stands."""

    SCHEDULED = "scheduled"  # waits for `due_at`: the first call or a retry
    CALLING = "calling"  # a call is in the outbox or on the line; `due_at` = look at its result
    FINE = "fine"  # pressed 1
    HELP = "help"  # pressed 9: a P2 alert went to the dispatch centre
    NOT_REACHED = "not_reached"  # every try unanswered: a P3 alert tells the first contact
    DROPPED = "dropped"  # the schedule changed or the resident left before any call

    @property
    def is_final(self) -> bool:
        """Nothing more happens to this window."""
        return self not in (WellbeingState.SCHEDULED, WellbeingState.CALLING)


class WellbeingCall(SQLModel, table=True):
    """One resident's wellbeing check in one schedule window, with its tries and result."""

    __tablename__ = "wellbeing_call"
    __table_args__ = (
        UniqueConstraint("resident_id", "window_start", name="uq_wellbeing_resident_window"),
        Index("ix_wellbeing_due", "state", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    resident_id: str = Field(foreign_key="resident.id", index=True, max_length=64)
    window_start: datetime
    window_end: datetime
    state: str = enum_field(WellbeingState.SCHEDULED.value)
    due_at: datetime
    tries: int = 0  # calls placed so far
    # indexed: a key pressed on the call finds its window by attempt (kept windows only grow)
    attempt_id: int | None = Field(default=None, foreign_key="notificationattempt.id", index=True)
    alert_id: int | None = Field(default=None, foreign_key="alert.id")  # 9, or never reached
    answered_at: datetime | None = None
    finished_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
