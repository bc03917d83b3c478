"""The report's 12-month trend: the share answered within 60 s and 180 s, month by month."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col

from ..db.alerts import Alert
from ..db.engine import SessionFactory
from .report import (
    MEASURED_SEVERITIES,
    TEST_TYPES,
    alerts_between,
    month_bounds,
    shift_month,
    summarize,
)

TREND_MONTHS = 12


@dataclass(frozen=True)
class TrendPoint:
    """One month of the trend; shares are None when nothing was measured that month."""

    month: str  # YYYY-MM
    measured: int
    within_60: float | None
    within_180: float | None


def months_ending(month: str, count: int = TREND_MONTHS) -> list[str]:
    """`count` months, oldest first, the last being `month`."""
    return [shift_month(month, -back) for back in reversed(range(count))]


async def monthly_trend(sessions: SessionFactory, *, month: str, zone: str,
                        now: datetime) -> list[TrendPoint]:
    """The shares of the 12 months ending with `month` (timed alarms only), one month's rows
    of REPORT_COLUMNS read at a time, each in a session of its own: a city's year at once held
    the event loop for a second (and SQLite's one connection with it)."""
    points = []
    for each in months_ending(month):
        start, end = month_bounds(each, zone)
        async with sessions() as session:
            alerts = await alerts_between(session, start, end,
                                          col(Alert.severity).in_(MEASURED_SEVERITIES),
                                          col(Alert.type).not_in(TEST_TYPES))
        summary = summarize(each, alerts, end=min(end, now), zone=zone)
        points.append(TrendPoint(each, summary.measured, summary.within_60, summary.within_180))
    return points
