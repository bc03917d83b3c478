"""Twilio webhooks of console calls (click-to-call), each signed like every other hook.

- /twilio/bridge/answer?call=ID   the operator answered: TwiML that dials the callee
- /twilio/bridge/dialed?call=ID   the <Dial> action: how the callee answered, for how long
- /twilio/bridge/status?call=ID   progress of the operator's own leg
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..appkeys import SERVICES
from ..bus import ChangeKind
from ..calls import service
from ..calls.numbers import bridge_url
from ..db.auth import Operator
from ..db.calls import ConsoleCall
from ..i18n import t
from ..twilio.signature import check_signature
from ..twilio.twiml import bridge_twiml, hangup_twiml, reply_twiml
from ..unit_of_work import unit_of_work
from ..validation import first_bad_text, parse_id

log = logging.getLogger(__name__)
RING_SECONDS = 30  # how long the callee's phone rings before Twilio gives up
SPOKEN = {"ja": "ja-JP", "en": "en-US"}


async def _form(request: web.Request) -> tuple[MultiDictProxy[Any], int] | None:
    """The signed form and the call id; 403 when unsigned, None for values nothing can hold."""
    services = request.app[SERVICES]
    form = await request.post()
    if not check_signature(services.settings, path_qs=request.rel_url.path_qs, params=form,
                           signature=request.headers.get("X-Twilio-Signature")):
        services.metrics.webhooks_refused.labels(reason="bad_signature").inc()
        log.warning("twilio webhook refused", extra={"path": request.path})
        raise web.HTTPForbidden(text="invalid Twilio signature")
    call_id = parse_id(request.query.get("call", ""))
    if call_id is None or first_bad_text(form.items()) is not None:
        services.metrics.webhooks_refused.labels(reason="bad_input").inc()
        return None
    return form, call_id


async def _apply(
    request: web.Request,
    step: Callable[[AsyncSession, MultiDictProxy[Any], int], Awaitable[ConsoleCall | None]],
) -> web.Response:
    """Verify, apply the step in one transaction; a call that ended is counted and announced."""
    checked = await _form(request)
    if checked is None:
        return web.Response(status=400, text="a parameter holds a value the gateway cannot store")
    form, call_id = checked
    services = request.app[SERVICES]
    async with unit_of_work(services.sessions, services.bus) as uow:
        ended = await step(uow.session, form, call_id)
        if ended is not None:
            uow.changed(ended.alert_id, ChangeKind.CALL)
    if ended is not None:
        services.metrics.console_calls.labels(outcome=ended.state).inc()
        log.info("console call ended", extra={"call_id": call_id, "outcome": ended.state})
    return web.Response(status=204)


async def answer(request: web.Request) -> web.Response:
    """POST /twilio/bridge/answer: the operator is on the line; dial the callee."""
    checked = await _form(request)
    if checked is None:
        return _xml(hangup_twiml())
    form, call_id = checked
    services = request.app[SERVICES]
    async with unit_of_work(services.sessions, services.bus) as uow:
        found = await service.operator_answered(uow.session, call_id=call_id,
                                                sid=form.get("CallSid"), now=services.clock.now())
        if found is None:
            return _xml(reply_twiml(t("ja", "call.say_nothing"), "ja-JP"))
        call, callee = found
        operator = await _operator(uow.session, call.operator)
        uow.changed(call.alert_id, ChangeKind.CALL)
    lang = operator.language if operator else "ja"
    return _xml(bridge_twiml(
        say=t(lang, "call.say_connecting", who=callee.who), language=SPOKEN.get(lang, "ja-JP"),
        number=callee.number, caller_id=services.settings.twilio_from_number,
        action_url=bridge_url(services.settings.public_url, "dialed", call_id),
        ring_timeout=RING_SECONDS))


async def _operator(session: AsyncSession, name: str) -> Operator | None:
    return (await session.exec(select(Operator).where(col(Operator.name) == name))).first()


async def dialed(request: web.Request) -> web.Response:
    """POST /twilio/bridge/dialed: the <Dial> ended; the call ends with it."""
    now = request.app[SERVICES].clock.now()

    async def step(session: AsyncSession, form: MultiDictProxy[Any],
                   call_id: int) -> ConsoleCall | None:
        raw = str(form.get("DialCallDuration") or "")
        return await service.dial_ended(
            session, call_id=call_id, sid=form.get("CallSid"),
            dial_status=str(form.get("DialCallStatus") or ""), dial_sid=form.get("DialCallSid"),
            seconds=int(raw) if raw.isdigit() and len(raw) < 7 else None, now=now)

    response = await _apply(request, step)
    return response if response.status != 204 else _xml(hangup_twiml())


async def status(request: web.Request) -> web.Response:
    """POST /twilio/bridge/status: the operator's own leg rang out, was busy or failed."""
    now = request.app[SERVICES].clock.now()

    async def step(session: AsyncSession, form: MultiDictProxy[Any],
                   call_id: int) -> ConsoleCall | None:
        return await service.leg_status(session, call_id=call_id, sid=form.get("CallSid"),
                                        status=str(form.get("CallStatus") or ""), now=now)

    return await _apply(request, step)


def _xml(text: str) -> web.Response:
    return web.Response(text=text, content_type="application/xml")


def add_routes(app: web.Application) -> None:
    """Register the console call webhooks."""
    app.router.add_post("/twilio/bridge/answer", answer)
    app.router.add_post("/twilio/bridge/dialed", dialed)
    app.router.add_post("/twilio/bridge/status", status)
