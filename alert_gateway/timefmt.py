"""Times and ages as operators read them, in the centre's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def aware(value: datetime) -> datetime:
    """An aware UTC datetime (SQLite hands back naive ones that were stored as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def local(value: datetime | None, zone: str, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """`value` in the centre's zone, or an empty string."""
    if value is None:
        return ""
    return aware(value).astimezone(ZoneInfo(zone)).strftime(fmt)


def age_on(born: date | None, today: date) -> int | None:
    """Completed years of age on `today`."""
    if born is None:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds from `start` to `end`, or None if either is missing."""
    if start is None or end is None:
        return None
    return (aware(end) - aware(start)).total_seconds()


def duration(seconds: float | None) -> str:
    """`1:05:09` or `4:07` (h:mm:ss or m:ss) for a count of seconds."""
    if seconds is None:
        return ""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
