"""The city's monthly report: counts, time to first human acknowledgement, follow-up lists,
and the wellbeing calls (made, share answered, residents never reached).

Targets from the UK TSA code of practice (DOMAIN.md): 97.5 % answered within 60 s and 99 %
within 180 s; every alarm not answered within 3 minutes is listed for investigation.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.alerts import Alert, Outcome
from ..db.engine import SessionFactory
from ..db.residents import Contact, Device, Resident
from ..timefmt import aware, seconds_between
from ..wellbeing.history import MonthFigures, month_figures

TARGET_60 = 0.975
TARGET_180 = 0.99
TEST_TYPES = frozenset({"test", "checkin"})
MEASURED_SEVERITIES = frozenset({"P1", "P2"})  # alarms a person must answer
NO_TEST_DAYS = 31


# What the report reads of each alert: rows of these columns, not ORM objects (a month of
# thousands, a year for the trend, as objects held the event loop for over a second)
REPORT_COLUMNS = tuple(Alert.__table__.c[name] for name in (  # type: ignore[attr-defined]
    "id", "resident_id", "device_id", "type", "severity", "outcome", "opened_at",
    "acknowledged_at", "taken_at", "resolved_at", "resolved_by"))


@dataclass
class LateAlert:
    """An alarm not acknowledged by a person within 3 minutes (None: never)."""

    alert: Any  # an Alert, or a row of REPORT_COLUMNS
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
    few_responders: list[tuple[Any, int]] = field(default_factory=list)  # (id, name) rows
    no_recent_test: list[tuple[Any, datetime | None]] = field(default_factory=list)
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


def first_human_response(alert: Any) -> datetime | None:
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


def summarize(month: str, alerts: Sequence[Any], *, end: datetime, zone: str) -> MonthlyReport:
    """Counts and response times from the month's alerts (Alert objects or rows of
    REPORT_COLUMNS; pure: no I/O).

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


async def alerts_between(session: AsyncSession, start: datetime, end: datetime,
                         *where: Any) -> Sequence[Any]:
    """Rows of REPORT_COLUMNS of the alerts opened in [start, end), oldest first."""
    return (await session.exec(select(*REPORT_COLUMNS).where(  # type: ignore[call-overload]
        col(Alert.opened_at) >= start, col(Alert.opened_at) < end, *where)
        .order_by(col(Alert.opened_at)))).all()


async def monthly_report(sessions: SessionFactory, *, month: str, zone: str,
                         now: datetime) -> MonthlyReport:
    """Load the month's alerts and the follow-up lists, then summarize: each read in a session
    of its own, so that SQLite's one connection serves the alarms between them."""
    start, end = month_bounds(month, zone)
    async with sessions() as session:
        alerts = await alerts_between(session, start, end)
    report = summarize(month, alerts, end=min(end, now), zone=zone)
    async with sessions() as session:
        report.few_responders = await residents_with_few_responders(session)
    async with sessions() as session:
        report.no_recent_test = await residents_without_test(session, now=now)
    async with sessions() as session:
        report.wellbeing = await month_figures(session, start=start, end=end)
    return report


async def residents_with_few_responders(session: AsyncSession) -> list[tuple[Any, int]]:
    """Active residents (id, name) with fewer than two active contacts (DOMAIN.md: 2-3
    neighbours), counted in the database: a city's residents are not read one by one."""
    contacts = func.count(col(Contact.id))
    rows = (await session.exec(
        select(Resident.id, Resident.name, contacts)
        .select_from(Resident)
        .outerjoin(Contact, and_(col(Contact.resident_id) == col(Resident.id),
                                 col(Contact.active).is_(True)))
        .where(col(Resident.active).is_(True))
        .group_by(col(Resident.id), col(Resident.name))
        .having(contacts < 2)
        .order_by(col(Resident.id)))).all()
    return [(row, row[2]) for row in rows]


async def residents_without_test(session: AsyncSession, *,
                                 now: datetime) -> list[tuple[Any, datetime | None]]:
    """Active residents (id, name) with no test from any device, nor a test alarm, in the last
    31 days, with the last one they had; chosen in the database."""
    since = (now - timedelta(days=NO_TEST_DAYS)).astimezone(UTC)  # SQLite compares UTC text
    device_tests = (select(Device.resident_id, func.max(Device.last_test_at).label("last"))
                    .group_by(col(Device.resident_id)).subquery())
    alarm_tests = (select(Alert.resident_id, func.max(Alert.opened_at).label("last"))
                   .where(col(Alert.type).in_(TEST_TYPES)).group_by(col(Alert.resident_id))
                   .subquery())
    rows = (await session.exec(
        select(Resident.id, Resident.name, device_tests.c.last, alarm_tests.c.last)
        .select_from(Resident)
        .outerjoin(device_tests, device_tests.c.resident_id == col(Resident.id))
        .outerjoin(alarm_tests, alarm_tests.c.resident_id == col(Resident.id))
        .where(col(Resident.active).is_(True),
               or_(device_tests.c.last.is_(None), device_tests.c.last < since),
               or_(alarm_tests.c.last.is_(None), alarm_tests.c.last < since))
        .order_by(col(Resident.id)))).all()
    late = []
    for row in rows:
        stamps = [aware(t) for t in (row[2], row[3]) if t is not None]
        late.append((row, max(stamps) if stamps else None))
    return late


def current_month(now: datetime, zone: str) -> str:
    """YYYY-MM of `now` in the centre's time zone: the month the report opens on."""
    return now.astimezone(ZoneInfo(zone)).strftime("%Y-%m")


def shift_month(month: str, months: int) -> str:
    """YYYY-MM `months` later (or earlier, when negative) than `month`."""
    year, number = (int(part) for part in month.split("-"))
    index = year * 12 + number - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"
