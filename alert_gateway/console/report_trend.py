"""The report's 12-month trend: the share answered within 60 s and 180 s, month by month."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.alerts import Alert
from ..timefmt import aware
from .report import MEASURED_SEVERITIES, TEST_TYPES, month_bounds, shift_month, summarize

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


async def monthly_trend(session: AsyncSession, *, month: str, zone: str,
                        now: datetime) -> list[TrendPoint]:
    """The shares of the 12 months ending with `month`, from one query (timed alarms only)."""
    months = months_ending(month)
    start, _ = month_bounds(months[0], zone)
    _, end = month_bounds(month, zone)
    query = select(Alert).where(
        col(Alert.opened_at) >= start, col(Alert.opened_at) < end,
        col(Alert.severity).in_(MEASURED_SEVERITIES), col(Alert.type).not_in(TEST_TYPES),
    )
    by_month: dict[str, list[Alert]] = defaultdict(list)
    tz = ZoneInfo(zone)
    for alert in (await session.exec(query.order_by(col(Alert.opened_at)))).all():
        by_month[aware(alert.opened_at).astimezone(tz).strftime("%Y-%m")].append(alert)
    points = []
    for each in months:
        _, month_end = month_bounds(each, zone)
        summary = summarize(each, by_month[each], end=min(month_end, now), zone=zone)
        points.append(TrendPoint(each, summary.measured, summary.within_60, summary.within_180))
    return points
