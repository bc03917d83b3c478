"""Disaster sweeps (災害時安否確認): one row per sweep and one per resident it checks.

The rows are the sweep runner's truth: a restart reads them and carries on; a conditional UPDATE
claims each call, so across replicas each resident's try is queued once.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from .types import enum_field


class SweepState(StrEnum):
    """Where a sweep stands as a whole."""

    RUNNING = "running"
    PAUSED = "paused"  # no new calls; calls on the line still finish and are read
    STOPPED = "stopped"  # by a supervisor: residents not yet called stay "waiting"
    FINISHED = "finished"  # every resident settled


class EntryState(StrEnum):
    """Where one resident stands in a sweep."""

    WAITING = "waiting"  # not called yet, or waits for `due_at` (a retry)
    CALLING = "calling"  # a call is in the outbox or on the line; `due_at` = look at its result
    FINE = "fine"  # pressed 1
    HELP = "help"  # pressed 9: a P1 alert
    NOT_REACHED = "not_reached"  # every try unanswered: neighbour volunteer and family asked to look
    NO_PHONE = "no_phone"  # nothing to call: the same visit as not reached

    @property
    def is_final(self) -> bool:
        """Nothing more happens to this resident in this sweep."""
        return self not in (EntryState.WAITING, EntryState.CALLING)


class AnsweredBy(StrEnum):
    """How a resident gave their fine / help answer: the same answer whichever way it came."""

    CALL = "call"  # pressed 1 or 9 on the sweep call
    LINK = "link"  # tapped 無事です / 助けが必要 on the page behind the sweep SMS's link
    LINE = "line"  # tapped the same buttons under the sweep's LINE message


class Sweep(SQLModel, table=True):
    """A sweep started by a supervisor: whom (an address prefix or everyone) and what they hear."""

    id: int | None = Field(default=None, primary_key=True)
    area_prefix: str | None = Field(default=None, max_length=200)  # None: every resident
    message_ja: str = Field(max_length=500)
    message_en: str = Field(max_length=500)
    state: str = enum_field(SweepState.RUNNING.value)
    started_by: str = Field(max_length=200)
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None


class SweepEntry(SQLModel, table=True):
    """One resident in a sweep: order, tries, state, and the alert raised for them."""

    __tablename__ = "sweep_entry"
    __table_args__ = (
        UniqueConstraint("sweep_id", "resident_id", name="uq_sweep_entry_resident"),
        Index("ix_sweep_entry_order", "sweep_id", "state", "rank"),
        # the runner's looks (calls on the line, the next due time) read a few rows by state
        # instead of scanning a 10,000-resident sweep on every tick
        Index("ix_sweep_entry_state_due", "state", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    sweep_id: int = Field(foreign_key="sweep.id", index=True)
    resident_id: str = Field(foreign_key="resident.id", index=True, max_length=64)
    rank: int  # call order: residents at risk first
    at_risk: bool = False
    state: str = enum_field(EntryState.WAITING.value)
    due_at: datetime | None = None  # a retry's time, or when to look at the call's result
    tries: int = 0
    # a key pressed on a sweep call finds its entry by the call's attempt (in the webhook)
    attempt_id: int | None = Field(default=None, foreign_key="notificationattempt.id", index=True)
    alert_id: int | None = Field(default=None, foreign_key="alert.id")  # 9, or never reached
    answered_at: datetime | None = None
    answered_by: str | None = enum_field(None, length=8)  # AnsweredBy: call, link or LINE
    finished_at: datetime | None = None
    updated_at: datetime


class SweepLink(SQLModel, table=True):
    """The one-tap answer link `{public_url}/r/{token}` in a resident's sweep SMS.

    Like an alert's answer link, only the SHA-256 of the token is kept; `answer` (fine, help)
    is the answer given through it, so a replayed form does not act twice.
    """

    __tablename__ = "sweep_link"

    token_hash: str = Field(primary_key=True, max_length=64)
    entry_id: int = Field(foreign_key="sweep_entry.id", index=True)
    created_at: datetime
    expires_at: datetime
    answer: str | None = enum_field(None, length=16)
    answered_at: datetime | None = None
