"""GET /alerts and /alerts/{alert_id}: the read side, through alerts.queries."""

from __future__ import annotations

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from devices.contract import AlarmType, Severity

from ..alerts import queries
from ..appkeys import SERVICES
from ..db.alerts import ACTIVE_STATUSES, AlertStatus
from ..db.escalation import ResponderState
from . import params
from .responses import model_response, page_response
from .schemas import (
    AlertDetail,
    AlertPage,
    AlertRead,
    AttemptRead,
    ResponderRead,
    TimelineEventRead,
)

ACTIVE = "active"  # shorthand for every status still on the board


def status_filter(request: web.Request) -> list[AlertStatus] | None:
    """`status=open,acknowledged` or `status=active`; None means every status."""
    if request.query.get("status") == ACTIVE:
        return [AlertStatus(s) for s in ACTIVE_STATUSES]
    return params.enum_list_query(request, "status", AlertStatus)


async def list_alerts(request: web.Request) -> web.Response:
    """Alerts filtered by status, type, resident and severity; active first, most urgent first."""
    limit, offset = params.page(request)
    status = status_filter(request)
    alarm_type = params.enum_query(request, "type", AlarmType)
    severity = params.enum_query(request, "severity", Severity)
    async with request.config_dict[SERVICES].sessions() as session:
        rows, total = await queries.get_all(
            session, status=status, type=alarm_type, severity=severity,
            resident_id=params.text_query(request, "resident_id"), limit=limit, offset=offset,
        )
    return page_response(AlertPage, rows, total=total, limit=limit, offset=offset)


async def alert_detail(session: AsyncSession, *, alert_id: int) -> AlertDetail:
    """One alert with its timeline, notification attempts and responders."""
    alert = await queries.get(session, alert_id=alert_id)
    events = await queries.timeline(session, alert_id=alert_id)
    attempts = await queries.attempts_for(session, alert_id=alert_id)
    responders = await queries.responders_for(session, alert_id=alert_id)
    return AlertDetail.model_validate({
        **AlertRead.model_validate(alert).model_dump(),
        "timeline": [TimelineEventRead.model_validate(e) for e in events],
        "attempts": [AttemptRead.model_validate(a) for a in attempts],
        "responders": [
            ResponderRead(contact_id=row.contact_id, name=contact.name, relation=contact.relation,
                          state=ResponderState(row.state), updated_at=row.updated_at, note=row.note)
            for row, contact in responders
        ],
    })


async def get_alert(request: web.Request) -> web.Response:
    """One alert with everything that happened to it."""
    alert_id = params.int_path(request, "alert_id", "alert")
    async with request.config_dict[SERVICES].sessions() as session:
        detail = await alert_detail(session, alert_id=alert_id)
    return model_response(detail)
