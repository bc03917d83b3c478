"""A resident's wellbeing schedule: a weekly or monthly window in local time (pure, no I/O).

Written `weekly mon 10:00-11:00` or `monthly 1 14:00-16:00`; city staff may also type
`毎週月曜 10:00-11:00` or `毎月1日 14:00-16:00`, which are stored in the first form.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import InvalidInput

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_JA_WEEKDAYS = "月火水木金土日"
LAST_MONTH_DAY = 28  # every month has it: "the 31st" would skip months
_HOURS = r"(\d{1,2}):(\d{2})\s*[-–~〜]\s*(\d{1,2}):(\d{2})"
_WEEKLY = re.compile(rf"^(?:weekly\s+([a-z]{{3}})[a-z]*|毎週([月火水木金土日])曜?日?)\s+{_HOURS}$")
_MONTHLY = re.compile(rf"^(?:monthly\s+(\d{{1,2}})|毎月(\d{{1,2}})日)\s+{_HOURS}$")
EXAMPLE = "weekly mon 10:00-11:00 / monthly 1 14:00-16:00"


class Cadence(StrEnum):
    """How often the window comes round."""

    WEEKLY = "weekly"
    MONTHLY = "monthly"


@dataclass(frozen=True, slots=True)
class Window:
    """One call window, as aware instants."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Schedule:
    """Every week on `day` (0 = Monday) or every month on `day` (1-28), from `start` to `end`."""

    cadence: Cadence
    day: int
    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """The schedule written in `text`; InvalidInput says what is wrong."""
        # NFKC: spreadsheets in Japan often hold full-width digits, colons and tildes
        value = " ".join(unicodedata.normalize("NFKC", text).strip().lower().split())
        if m := _WEEKLY.match(value):
            name = m[1] or WEEKDAYS[_JA_WEEKDAYS.index(m[2])]
            if name not in WEEKDAYS:
                raise InvalidInput(f"unknown weekday {name!r} (mon … sun)")
            cadence, day, hours = Cadence.WEEKLY, WEEKDAYS.index(name), m.groups()[2:]
        elif m := _MONTHLY.match(value):
            cadence, day, hours = Cadence.MONTHLY, int(m[1] or m[2]), m.groups()[2:]
            if not 1 <= day <= LAST_MONTH_DAY:
                raise InvalidInput(f"day of the month must be 1-{LAST_MONTH_DAY} (got {day})")
        else:
            raise InvalidInput(f"wellbeing schedule {text!r} not understood (e.g. {EXAMPLE})")
        start, end = _clock(hours[0], hours[1]), _clock(hours[2], hours[3])
        if end <= start:
            raise InvalidInput("the window must end after it starts, on the same day")
        return cls(cadence, day, start, end)

    def __str__(self) -> str:
        day = WEEKDAYS[self.day] if self.cadence is Cadence.WEEKLY else str(self.day)
        return f"{self.cadence.value} {day} {self.start:%H:%M}-{self.end:%H:%M}"

    def _on(self, day: date) -> bool:
        return (day.weekday() if self.cadence is Cadence.WEEKLY else day.day) == self.day

    def window_for(self, now: datetime, tz: ZoneInfo) -> Window:
        """The window that contains `now`, else the next one to start."""
        today = now.astimezone(tz).date()
        for offset in range(0, 63):  # a monthly window comes within two months
            day = today + timedelta(days=offset)
            if self._on(day):
                window = Window(datetime.combine(day, self.start, tz),
                                datetime.combine(day, self.end, tz))
                if window.end > now:
                    return window
        raise AssertionError("a schedule always has a window within 63 days")


def _clock(hour: str, minute: str) -> time:
    if int(hour) > 23 or int(minute) > 59:
        raise InvalidInput(f"{hour}:{minute} is not a time of day")
    return time(int(hour), int(minute))


def normalize(text: str | None) -> str | None:
    """The stored form of a schedule (blank: none); InvalidInput when it is not one."""
    if text is None or not text.strip():
        return None
    return str(Schedule.parse(text))


def zone(name: str) -> ZoneInfo:
    """The time zone named; InvalidInput when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {name!r} (e.g. Asia/Tokyo)") from exc


def spread(window: Window, resident_id: str) -> datetime:
    """When in the window this resident's first call is due: a stable point in its first half.

    Residents sharing a window are spread over it rather than all called at its first minute
    (the account's send rate is shared with alarms); the second half leaves room to retry.
    """
    digest = hashlib.sha256(f"{resident_id}|{window.start.isoformat()}".encode()).digest()
    share = int.from_bytes(digest[:4], "big") / 2**32
    return window.start + (window.end - window.start) / 2 * share
