"""History: closed alerts searched by date, type, resident and outcome (every operator)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlmodel import col, select

from devices.contract import AlarmType

from ..appkeys import SERVICES
from ..db.alerts import Alert, AlertStatus, Outcome
from ..db.residents import Resident
from ..errors import InvalidInput
from .render import render

LIMIT = 300
FIRST_YEAR, LAST_YEAR = 1900, 2199


def _day(value: str, zone: str) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput("dates look like 2026-11-27") from exc
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        # Year 1 or 9999 overflows once shifted to UTC or by a day: not a date anyone searches.
        raise InvalidInput(f"dates lie between {FIRST_YEAR} and {LAST_YEAR}")
    return datetime.combine(day, time(), tzinfo=ZoneInfo(zone))


async def history_page(request: web.Request) -> web.Response:
    """GET /console/history?from=&to=&type=&resident=&outcome=."""
    services = request.app[SERVICES]
    zone = services.settings.timezone
    q = {k: request.query.get(k, "").strip() for k in ("from", "to", "type", "resident", "outcome")}
    filters: list[Any] = [col(Alert.status) == AlertStatus.RESOLVED.value]
    if start := _day(q["from"], zone):
        filters.append(col(Alert.opened_at) >= start)
    if end := _day(q["to"], zone):
        filters.append(col(Alert.opened_at) < end + timedelta(days=1))
    if q["type"]:
        filters.append(col(Alert.type) == q["type"])
    if q["outcome"]:
        filters.append(col(Alert.outcome) == q["outcome"])
    if q["resident"]:
        text = q["resident"]
        filters.append(col(Alert.resident_id).in_(
            select(Resident.id).where(col(Resident.id).icontains(text, autoescape=True)
                                      | col(Resident.name).icontains(text, autoescape=True))))
    query = (select(Alert, Resident).outerjoin(Resident, col(Resident.id) == col(Alert.resident_id))
             .where(*filters).order_by(col(Alert.opened_at).desc()).limit(LIMIT))
    async with services.sessions() as session:
        rows = list((await session.exec(query)).all())
    return render(request, "history.html", rows=rows, q=q, types=[t.value for t in AlarmType],
                  outcomes=[o.value for o in Outcome], limit=LIMIT)


def add_routes(app: web.Application) -> None:
    """Register the history page."""
    app.router.add_get("/console/history", history_page)
