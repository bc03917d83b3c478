"""The audit log (supervisors): who viewed or changed a resident's record, who revealed a code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from ..appkeys import SERVICES
from ..csvfile import start_csv
from ..db.audit import AuditAction, AuditEntry
from ..errors import InvalidInput
from ..privacy import audit
from .auth import require_supervisor
from .render import render

DEFAULT_DAYS = 30
PAGE_LIMIT = 500  # the page shows the latest ones; the CSV has them all
# Entries read and sent at a time: a month of 30,000 read at once held the event loop for
# 0.4-0.8 s (alarms waiting behind it)
CSV_PAGE = 1000
FIRST_YEAR, LAST_YEAR = 1900, 2199


@dataclass(frozen=True)
class AuditQuery:
    """A date range (local days, both included) and an optional resident id."""

    first: date
    last: date
    resident_id: str

    def bounds(self, zone: str) -> tuple[datetime, datetime]:
        """[start of the first day, start of the day after the last) in the centre's zone."""
        tz = ZoneInfo(zone)
        return (datetime.combine(self.first, time(), tzinfo=tz),
                datetime.combine(self.last + timedelta(days=1), time(), tzinfo=tz))


def _day(value: str, default: date) -> date:
    if not value.strip():
        return default
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput("dates look like 2026-11-27") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise InvalidInput(f"dates lie between {FIRST_YEAR} and {LAST_YEAR}")
    return day


def parse_query(request: web.Request) -> AuditQuery:
    """The range from `from` and `to` (default: the last 30 days) and `resident`."""
    services = request.app[SERVICES]
    today = services.clock.now().astimezone(ZoneInfo(services.settings.timezone)).date()
    first = _day(request.query.get("from", ""), today - timedelta(days=DEFAULT_DAYS - 1))
    last = _day(request.query.get("to", ""), today)
    if last < first:
        raise InvalidInput("the end date is before the start date")
    return AuditQuery(first, last, request.query.get("resident", "").strip()[:64])


async def audit_page(request: web.Request) -> web.Response:
    """GET /console/audit?from=&to=&resident=: the newest entries first."""
    require_supervisor(request)
    query = parse_query(request)
    services = request.app[SERVICES]
    start, end = query.bounds(services.settings.timezone)
    async with services.sessions() as session:
        total, _ = await audit.extent(session, start=start, end=end,
                                      resident_id=query.resident_id or None)
        rows = await audit.newest(session, start=start, end=end,
                                  resident_id=query.resident_id or None, limit=PAGE_LIMIT)
    return render(request, "audit.html", rows=rows, total=total, q=query, limit=PAGE_LIMIT)


async def audit_csv(request: web.Request) -> web.StreamResponse:
    """GET /console/audit.csv?from=&to=&resident=: every entry, read and sent CSV_PAGE at a
    time; the export is itself audited (not in its own file)."""
    operator = require_supervisor(request)
    services = request.app[SERVICES]
    query = parse_query(request)
    start, end = query.bounds(services.settings.timezone)
    resident_id, zone = query.resident_id or None, services.settings.timezone
    async with services.sessions() as session:
        total, last_id = await audit.extent(session, start=start, end=end, resident_id=resident_id)
        audit.record(session, actor=f"operator:{operator.name}", action=AuditAction.EXPORT,
                     resident_id=resident_id, now=services.clock.now(),
                     detail=f"{query.first}..{query.last}, {total} entries")
        await session.commit()
    response = await start_csv(request, f"audit-{query.first}-{query.last}.csv")
    await response.write(audit.csv_lines([], zone=zone, header=True).encode())
    after: AuditEntry | None = None
    while True:
        async with services.sessions() as session:  # each page its own read
            rows = await audit.page(session, start=start, end=end, resident_id=resident_id,
                                    up_to=last_id, after=after, limit=CSV_PAGE)
        if rows:
            await response.write(audit.csv_lines(rows, zone=zone).encode())
            after = rows[-1]
        if len(rows) < CSV_PAGE:
            break
    await response.write_eof()
    return response


def add_routes(app: web.Application) -> None:
    """Register the audit routes."""
    app.router.add_get("/console/audit", audit_page)
    app.router.add_get("/console/audit.csv", audit_csv)
