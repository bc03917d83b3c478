"""Night hours in the centre's time zone (pure): who may be woken, and when technical SMS may go."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class NightHours:
    """Night runs from `start_hour` to `end_hour` local time (22 → 7 wraps midnight)."""

    tz: ZoneInfo
    start_hour: int = 22
    end_hour: int = 7

    @classmethod
    def of(cls, timezone: str, start_hour: int, end_hour: int) -> NightHours:
        """Build from settings values."""
        return cls(ZoneInfo(timezone), start_hour, end_hour)

    def is_night(self, now: datetime) -> bool:
        """True during night hours."""
        hour = now.astimezone(self.tz).hour
        if self.start_hour == self.end_hour:
            return False
        if self.start_hour > self.end_hour:
            return hour >= self.start_hour or hour < self.end_hour
        return self.start_hour <= hour < self.end_hour

    def next_change(self, now: datetime) -> datetime:
        """The next night/day boundary after `now` (aware, same instant in any zone)."""
        local = now.astimezone(self.tz)
        for days in (0, 1, 2):
            for hour in sorted((self.start_hour, self.end_hour)):
                candidate = (local + timedelta(days=days)).replace(hour=hour, minute=0, second=0,
                                                                   microsecond=0)
                if candidate > local:
                    return candidate.astimezone(now.tzinfo)
        return now + timedelta(hours=1)  # unreachable with valid hours; never spin

    def local(self, now: datetime) -> datetime:
        """`now` in the centre's time zone (for "at 03:12" in messages)."""
        return now.astimezone(self.tz)
