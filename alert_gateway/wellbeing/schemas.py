"""API schemas of a resident's wellbeing calls, kept apart from the tables."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from ..db.wellbeing import WellbeingChannel

# The stored form (schedule.py); a window ending before it starts is refused with 409.
_TIME = "([01][0-9]|2[0-3]):[0-5][0-9]"
SCHEDULE_PATTERN = (f"^(weekly (mon|tue|wed|thu|fri|sat|sun)|monthly ([1-9]|1[0-9]|2[0-8])) "
                    f"{_TIME}-{_TIME}$")
TIME_ZONES: list[JsonValue] = list(sorted(available_timezones()))


class WellbeingIn(BaseModel):
    """A resident's wellbeing schedule; null (or absent) schedule: no calls."""

    model_config = ConfigDict(extra="forbid")

    schedule: str | None = Field(
        default=None, pattern=SCHEDULE_PATTERN,
        description="`weekly mon 10:00-11:00` or `monthly 1 14:00-16:00` (local time).")
    timezone: str = Field(default="Asia/Tokyo", json_schema_extra={"enum": TIME_ZONES},
                          description="IANA time zone of the window.")
    channel: WellbeingChannel = WellbeingChannel.VOICE

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in TIME_ZONES:
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Tokyo)")
        return value


class WellbeingCallRead(BaseModel):
    """One window's wellbeing check: its state, calls made and any alert it opened."""

    model_config = ConfigDict(from_attributes=True)

    window_start: datetime
    window_end: datetime
    state: str
    tries: int
    answered_at: datetime | None = None
    alert_id: int | None = None


class WellbeingRead(BaseModel):
    """A resident's wellbeing schedule and recent windows, newest first."""

    resident_id: str
    schedule: str | None
    timezone: str
    channel: WellbeingChannel
    last_checkin: datetime | None = Field(
        default=None, description="The latest device test or periodic check-in: a sign of life.")
    calls: list[WellbeingCallRead]
