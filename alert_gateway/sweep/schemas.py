"""API schemas of disaster sweeps, kept apart from the tables."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ..db.sweep import AnsweredBy, EntryState, SweepState

_TEXT = "^[^\\x00]*$"


class SweepIn(BaseModel):
    """Start a sweep: everyone, or the residents whose address starts with `area_prefix`."""

    model_config = ConfigDict(extra="forbid")

    area_prefix: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=_TEXT,
        description="Address prefix, e.g. 金沢市広坂; absent or null: every active resident.")
    message_ja: str | None = Field(
        default=None, min_length=1, max_length=400, pattern=_TEXT,
        description="What Japanese speakers hear before 'press 1 / 9', and read in the SMS with "
                    "its answer link; null: the default.")
    message_en: str | None = Field(
        default=None, min_length=1, max_length=400, pattern=_TEXT,
        description="What English speakers hear before 'press 1 / 9', and read in the SMS with "
                    "its answer link; null: the default.")


class ResponderRead(BaseModel):
    """A contact asked to look in on a resident not reached, and how far they came."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    relation: str
    state: str  # notified, answered, accepted, declined, arrived


class SweepEntryRead(BaseModel):
    """One resident in a sweep."""

    resident_id: str
    name: str
    rank: int
    at_risk: bool
    state: EntryState
    tries: int
    alert_id: int | None
    answered_at: datetime | None
    answered_by: AnsweredBy | None  # a key on the call, or a tap on the SMS's link
    responders: list[ResponderRead]


class SweepRead(BaseModel):
    """A sweep, its counts per state and a page of its residents in call order."""

    id: int
    state: SweepState
    area_prefix: str | None
    message_ja: str
    message_en: str
    started_by: str
    created_at: datetime
    finished_at: datetime | None
    counts: dict[str, int]
    residents_total: int  # every resident of the sweep
    residents_offset: int  # where this page of `residents` starts in call order
    residents: list[SweepEntryRead]
