"""The alert view: resident card, device, contacts and attempts, timeline, earlier alerts."""

from __future__ import annotations

import logging
from datetime import timedelta

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from ..appkeys import SERVICES
from ..bus import ChangeKind
from ..calls.numbers import phone_to_ring
from ..db.alerts import Alert, AlertEvent, EventKind, Outcome
from ..db.audit import AuditAction
from ..db.residents import Resident
from ..errors import InvalidInput
from ..i18n.said import person, say
from ..privacy import audit
from ..timefmt import aware
from ..unit_of_work import unit_of_work
from ..validation import parse_id
from . import alert_data
from .auth import current
from .inputs import path_id
from .render import render

log = logging.getLogger(__name__)

# After a reveal the browser is sent to a GET that shows the code (POST-redirect-GET, so a reload
# never re-posts); that GET shows it only to the operator whose logged reveal it names, and only
# this long after it, so the address in the history does not show it again later.
REVEAL_SHOWN_FOR = timedelta(minutes=2)


def alert_id_of(request: web.Request) -> int:
    """The alert id in the path."""
    return path_id(request, "alert_id", "alert")


async def render_alert(request: web.Request, alert_id: int, *, status: int = 200,
                       error: str | None = None, revealed: str | None = None) -> web.Response:
    """The whole alert page; `revealed` is the key-safe code, shown only right after a reveal."""
    services = request.app[SERVICES]
    async with services.sessions() as session:
        page = await alert_data.load(session, alert_id=alert_id, zone=services.settings.timezone)
    return render(request, "alert.html", status=status, page=page, error=error,
                  revealed=revealed, outcomes=[o for o in Outcome if o is not Outcome.RESTORED],
                  ring=ring_first(request))


def ring_first(request: web.Request) -> str | None:
    """The phone click-to-call rings first for this operator (None: calls cannot be placed)."""
    return phone_to_ring(current(request).phone, request.app[SERVICES].settings.desk_phone)


async def alert_page(request: web.Request) -> web.Response:
    """GET /console/alerts/{id}[?revealed=<event id>]: the code only right after one's own reveal."""
    alert_id = alert_id_of(request)
    reveal_id = parse_id(request.query.get("revealed", ""))
    revealed = None
    if reveal_id is not None:
        async with request.app[SERVICES].sessions() as session:
            revealed = await _code_just_revealed(request, session, alert_id, reveal_id)
    return await render_alert(request, alert_id, revealed=revealed)


async def _code_just_revealed(request: web.Request, session: AsyncSession, alert_id: int,
                              event_id: int) -> str | None:
    event = await session.get(AlertEvent, event_id)
    now = request.app[SERVICES].clock.now()
    if (event is None or event.alert_id != alert_id
            or event.kind != EventKind.KEY_CODE_REVEALED.value
            or event.actor != f"operator:{current(request).name}"
            or now - aware(event.at) > REVEAL_SHOWN_FOR):
        return None
    alert = await session.get(Alert, alert_id)
    resident = await session.get(Resident, alert.resident_id) if alert and alert.resident_id else None
    return resident.key_safe_code if resident else None


async def alert_live(request: web.Request) -> web.Response:
    """GET /console/alerts/{id}/live: status, contacts and timeline, re-read on every change."""
    services = request.app[SERVICES]
    async with services.sessions() as session:
        page = await alert_data.load(session, alert_id=alert_id_of(request),
                                     zone=services.settings.timezone)
    return render(request, "_alert_live.html", page=page, ring=ring_first(request))


async def reveal_key(request: web.Request) -> web.Response:
    """POST /console/alerts/{id}/reveal-key: log who saw the key-safe code, then show it (PRG)."""
    services = request.app[SERVICES]
    alert_id = alert_id_of(request)
    operator = current(request)
    now = services.clock.now()
    async with unit_of_work(services.sessions, services.bus) as uow:
        page = await alert_data.load(uow.session, alert_id=alert_id, zone=services.settings.timezone)
        resident = page.resident
        if resident is None or not resident.key_safe_code:
            raise InvalidInput("this resident has no key-safe code on file")
        # The timeline says who saw it and when, never the code itself (DOMAIN.md).
        said = say("timeline.alert.key_code_shown",
                   who=person(f"operator:{operator.name}", operator.name))
        event = AlertEvent(alert_id=alert_id, at=now, kind=EventKind.KEY_CODE_REVEALED.value,
                           actor=f"operator:{operator.name}", message=said.english,
                           data=said.data())
        uow.session.add(event)
        audit.record(uow.session, actor=f"operator:{operator.name}",
                     action=AuditAction.REVEAL_KEY_CODE, resident_id=resident.id, now=now,
                     detail=f"alert {alert_id}")
        uow.changed(alert_id, ChangeKind.KEY_CODE_REVEALED)
        await uow.session.flush()
    log.info("key-safe code revealed", extra={"alert_id": alert_id, "operator_id": operator.id})
    raise web.HTTPSeeOther(f"/console/alerts/{alert_id}?revealed={event.id}#key-code")


def add_routes(app: web.Application) -> None:
    """Register the alert view routes."""
    app.router.add_get(r"/console/alerts/{alert_id:\d+}", alert_page)
    app.router.add_get(r"/console/alerts/{alert_id:\d+}/live", alert_live)
    app.router.add_post(r"/console/alerts/{alert_id:\d+}/reveal-key", reveal_key)
