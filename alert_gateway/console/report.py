"""The city's monthly report: counts, time to first human acknowledgement, follow-up lists,
and the wellbeing calls (made, share answered, residents never reached).

Targets from the UK TSA code of practice (DOMAIN.md): 97.5 % answered within 60 s and 99 %
within 180 s; every alarm not answered within 3 minutes is listed for investigation.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.alerts import Alert, Outcome
from ..db.residents import Contact, Device, Resident
from ..timefmt import aware, seconds_between
from ..wellbeing.history import MonthFigures, month_figures

TARGET_60 = 0.975
TARGET_180 = 0.99
TEST_TYPES = frozenset({"test", "checkin"})
MEASURED_SEVERITIES = frozenset({"P1", "P2"})  # alarms a person must answer
NO_TEST_DAYS = 31


@dataclass
class LateAlert:
    """An alarm not acknowledged by a person within 3 minutes (None: never)."""

    alert: Alert
    seconds: float | None


@dataclass
class MonthlyReport:
    """Everything the report page and CSV show for one month."""

    month: str  # YYYY-MM
    by_type: Counter[str] = field(default_factory=Counter)  # every alarm but tests
    accidental_by_type: Counter[str] = field(default_factory=Counter)  # of those, false alarms
    by_outcome: Counter[str] = field(default_factory=Counter)
    by_hour: list[int] = field(default_factory=lambda: [0] * 24)  # local hour received
    accidental: int = 0
    tests: int = 0
    measured: int = 0
    median_seconds: float | None = None
    p90_seconds: float | None = None
    within_60: float | None = None
    within_180: float | None = None
    waits: list[float] = field(default_factory=list)  # seconds to the first human response
    unanswered: int = 0  # measured alarms nobody answered (past 3 minutes at the month's end)
    late: list[LateAlert] = field(default_factory=list)
    few_responders: list[tuple[Resident, int]] = field(default_factory=list)
    no_recent_test: list[tuple[Resident, datetime | None]] = field(default_factory=list)
    wellbeing: MonthFigures = field(default_factory=MonthFigures)

    @property
    def total(self) -> int:
        """Alarms counted by type: every one but tests (false alarms included)."""
        return sum(self.by_type.values())


def month_bounds(month: str, zone: str) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's, in the centre's time zone."""
    year, number = (int(part) for part in month.split("-"))
    start = datetime(year, number, 1, tzinfo=ZoneInfo(zone))
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=ZoneInfo(zone))
    return start, end


def first_human_response(alert: Alert) -> datetime | None:
    """The first time a person acknowledged, took or closed the alert."""
    times = [alert.acknowledged_at, alert.taken_at]
    if alert.resolved_by and alert.resolved_by.startswith("operator:"):
        times.append(alert.resolved_at)
    known = [aware(t) for t in times if t is not None]
    return min(known) if known else None


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (what a spreadsheet auditor reproduces by hand)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def summarize(month: str, alerts: list[Alert], *, end: datetime, zone: str) -> MonthlyReport:
    """Counts and response times from the month's alerts (pure: no I/O).

    A false alarm still counts under its type (the city counts smoke alarms, real or not) and
    is counted apart as well; tests and check-ins are counted apart only.
    """
    report = MonthlyReport(month)
    waits = report.waits
    tz = ZoneInfo(zone)
    for alert in alerts:
        if alert.type in TEST_TYPES or alert.outcome == Outcome.TEST.value:
            report.tests += 1
            continue
        report.by_type[alert.type] += 1
        report.by_hour[aware(alert.opened_at).astimezone(tz).hour] += 1
        if alert.outcome:
            report.by_outcome[alert.outcome] += 1
        if alert.outcome == Outcome.ACCIDENTAL.value:
            report.accidental += 1
            report.accidental_by_type[alert.type] += 1
        if alert.severity not in MEASURED_SEVERITIES:
            continue
        seconds = seconds_between(alert.opened_at, first_human_response(alert))
        if seconds is None:
            if (seconds_between(alert.opened_at, end) or 0) > 180:
                report.unanswered += 1
                report.late.append(LateAlert(alert, None))
            continue
        waits.append(seconds)
        if seconds > 180:
            report.late.append(LateAlert(alert, seconds))
    report.measured = len(waits) + report.unanswered
    if report.measured:
        report.median_seconds = statistics.median(waits) if waits else None
        report.p90_seconds = percentile(waits, 0.9)
        report.within_60 = sum(w <= 60 for w in waits) / report.measured
        report.within_180 = sum(w <= 180 for w in waits) / report.measured
    report.late.sort(key=lambda late: late.alert.opened_at)
    return report


async def monthly_report(session: AsyncSession, *, month: str, zone: str,
                         now: datetime) -> MonthlyReport:
    """Load the month's alerts and the follow-up lists, then summarize."""
    start, end = month_bounds(month, zone)
    query = select(Alert).where(col(Alert.opened_at) >= start, col(Alert.opened_at) < end)
    alerts = list((await session.exec(query.order_by(col(Alert.opened_at)))).all())
    report = summarize(month, alerts, end=min(end, now), zone=zone)
    report.few_responders = await residents_with_few_responders(session)
    report.no_recent_test = await residents_without_test(session, now=now)
    report.wellbeing = await month_figures(session, start=start, end=end)
    return report


async def residents_with_few_responders(session: AsyncSession) -> list[tuple[Resident, int]]:
    """Active residents with fewer than two active contacts (DOMAIN.md: 2-3 neighbours)."""
    counts = dict((await session.exec(
        select(Contact.resident_id, func.count()).where(col(Contact.active).is_(True))
        .group_by(col(Contact.resident_id))
    )).all())
    residents = (await session.exec(
        select(Resident).where(col(Resident.active).is_(True)).order_by(col(Resident.id))
    )).all()
    return [(r, counts.get(r.id, 0)) for r in residents if counts.get(r.id, 0) < 2]


async def residents_without_test(session: AsyncSession, *,
                                 now: datetime) -> list[tuple[Resident, datetime | None]]:
    """Active residents with no test from any device, nor a test alarm, in the last 31 days."""
    since = now - timedelta(days=NO_TEST_DAYS)
    device_tests = dict((await session.exec(
        select(Device.resident_id, func.max(Device.last_test_at)).group_by(col(Device.resident_id))
    )).all())
    alarm_tests = dict((await session.exec(
        select(Alert.resident_id, func.max(Alert.opened_at))
        .where(col(Alert.type).in_(TEST_TYPES)).group_by(col(Alert.resident_id))
    )).all())
    residents = (await session.exec(
        select(Resident).where(col(Resident.active).is_(True)).order_by(col(Resident.id))
    )).all()
    late = []
    for resident in residents:
        stamps = [aware(t) for t in (device_tests.get(resident.id), alarm_tests.get(resident.id))
                  if t is not None]
        last = max(stamps) if stamps else None
        if last is None or last < since:
            late.append((resident, last))
    return late


def current_month(now: datetime, zone: str) -> str:
    """YYYY-MM of `now` in the centre's time zone: the month the report opens on."""
    return now.astimezone(ZoneInfo(zone)).strftime("%Y-%m")


def shift_month(month: str, months: int) -> str:
    """YYYY-MM `months` later (or earlier, when negative) than `month`."""
    year, number = (int(part) for part in month.split("-"))
    index = year * 12 + number - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"
