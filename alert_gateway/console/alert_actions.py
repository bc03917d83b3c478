"""Operator actions on an alert: each is a form post, lands on the timeline with the operator's
name, is committed, then announced on the bus (board, engine and device feedback listen)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web
from multidict import MultiDictProxy
from sqlmodel.ext.asyncio.session import AsyncSession

from ..alerts import actions
from ..appkeys import SERVICES
from ..bus import ChangeKind
from ..db.alerts import AckChannel, Outcome
from ..errors import GatewayError, InvalidInput
from ..unit_of_work import UnitOfWork, retrying
from .alert_view import alert_id_of, render_alert
from .auth import current
from .inputs import checked_form, optional_id
from .keys import METRICS
from .render import translator

log = logging.getLogger(__name__)

Form = MultiDictProxy[str | bytes | bytearray | web.FileField]  # what request.post() returns
Action = Callable[[AsyncSession, int, str, Form, datetime], Awaitable[object]]


def _text(form: Form, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _contact_id(form: Form) -> int | None:
    return optional_id(_text(form, "contact_id"), "contact")


async def _take(session: AsyncSession, alert_id: int, name: str, form: Form,
                now: datetime) -> object:
    return await actions.take(session, alert_id=alert_id, operator=name, now=now,
                              force=_text(form, "force") == "1")


async def _acknowledge(session: AsyncSession, alert_id: int, name: str, form: Form,
                       now: datetime) -> object:
    return await actions.acknowledge(session, alert_id=alert_id, actor=f"operator:{name}",
                                     channel=AckChannel.CONSOLE, now=now)


async def _note(session: AsyncSession, alert_id: int, name: str, form: Form,
                now: datetime) -> object:
    return await actions.add_note(session, alert_id=alert_id, actor=f"operator:{name}",
                                  text=_text(form, "text"), now=now)


async def _escalate(session: AsyncSession, alert_id: int, name: str, form: Form,
                    now: datetime) -> object:
    await actions.escalate_now(session, alert_id=alert_id, actor=f"operator:{name}", now=now)
    return None


async def _arrival(session: AsyncSession, alert_id: int, name: str, form: Form,
                   now: datetime) -> object:
    return await actions.record_arrival(session, alert_id=alert_id, actor=f"operator:{name}",
                                        now=now, contact_id=_contact_id(form))


async def _resolve(session: AsyncSession, alert_id: int, name: str, form: Form,
                   now: datetime) -> object:
    raw = _text(form, "outcome")
    if raw not in Outcome._value2member_map_ or raw == Outcome.RESTORED.value:
        raise InvalidInput("choose an outcome")  # mandatory (DOMAIN.md)
    note = _text(form, "note") or None
    if raw == Outcome.OTHER.value and not note:
        raise InvalidInput("say what happened when the outcome is 'other'")
    return await actions.resolve(session, alert_id=alert_id, actor=f"operator:{name}",
                                 outcome=Outcome(raw), now=now, note=note)


ACTIONS: dict[str, tuple[Action, ChangeKind]] = {
    "take": (_take, ChangeKind.TAKEN),
    "acknowledge": (_acknowledge, ChangeKind.ACKNOWLEDGED),
    "note": (_note, ChangeKind.NOTE),
    "escalate": (_escalate, ChangeKind.ESCALATION_STEP),
    "arrival": (_arrival, ChangeKind.ARRIVED),
    "resolve": (_resolve, ChangeKind.RESOLVED),
}


async def act(request: web.Request) -> web.Response:
    """POST /console/alerts/{id}/{action}: do it, or show the alert again with the reason."""
    services = request.app[SERVICES]
    alert_id = alert_id_of(request)
    name = request.match_info["action"]
    handler, kind = ACTIONS[name]
    operator = current(request)
    now = services.clock.now()
    try:
        form = await checked_form(request)
        async def work(uow: UnitOfWork) -> None:
            await handler(uow.session, alert_id, operator.name, form, now)
            uow.changed(alert_id, kind)

        await retrying(services.sessions, services.bus, work)
    except GatewayError as exc:
        # Conflicts (taken by someone else, already resolved) are normal on a busy shift.
        _ = translator(request)
        message = _(f"action.error.{name}", reason=str(exc))
        return await render_alert(request, alert_id, status=exc.http_status, error=message)
    log.info("console action", extra={"alert_id": alert_id, "action": name,
                                      "operator_id": operator.id})
    request.app[METRICS].actions.labels(name).inc()
    raise web.HTTPSeeOther(f"/console/alerts/{alert_id}#actions")


def add_routes(app: web.Application) -> None:
    """Register one route per action."""
    names = "|".join(ACTIONS)
    app.router.add_post(rf"/console/alerts/{{alert_id:\d+}}/{{action:(?:{names})}}", act)
