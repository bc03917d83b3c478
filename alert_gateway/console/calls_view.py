"""Click-to-call from the alert view: ring the operator's phone, then bridge to the callee.

The call is placed in the request (the operator waits about a second for Twilio's answer) with a
Twilio client of its own, so console calls never take a connection from the alarms' dispatcher.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from ..appkeys import SERVICES
from ..bus import ChangeKind
from ..calls import service
from ..calls.numbers import CallRefused, bridge_url, choose, phone_to_ring
from ..db.calls import CallState
from ..twilio.client import SendError, TwilioSender
from ..unit_of_work import unit_of_work
from .alert_view import alert_id_of, render_alert
from .auth import current
from .inputs import checked_form
from .keys import CALLER, METRICS
from .render import translator

log = logging.getLogger(__name__)


async def call(request: web.Request) -> web.Response:
    """POST /console/alerts/{id}/call (callee=resident|gp|contact:<id>)."""
    services = request.app[SERVICES]
    alert_id = alert_id_of(request)
    operator = current(request)
    _ = translator(request)
    form = await checked_form(request)
    ring = phone_to_ring(operator.phone, services.settings.desk_phone)
    try:
        if ring is None:
            raise CallRefused("no phone to ring first", "call.refused.no_phone")
        async with unit_of_work(services.sessions, services.bus) as uow:
            callee = choose(await service.callees_of(uow.session, alert_id=alert_id),
                            str(form.get("callee", "")))
            row = await service.start(uow.session, alert_id=alert_id, operator=operator.name,
                                      operator_phone=ring, callee=callee,
                                      now=services.clock.now())
            uow.changed(alert_id, ChangeKind.CALL)
    except CallRefused as exc:
        return await render_alert(request, alert_id, status=400, error=_(exc.text_key))
    assert row.id is not None
    base = services.settings.public_url
    try:
        result = await request.app[CALLER].place_bridge_call(
            to=ring, url=bridge_url(base, "answer", row.id),
            status_callback=bridge_url(base, "status", row.id))
    except SendError as exc:
        log.warning("console call not placed", extra={"alert_id": alert_id, "error": str(exc)})
        async with unit_of_work(services.sessions, services.bus) as uow:
            await service.not_placed(uow.session, call_id=row.id, who=callee.who,
                                     now=services.clock.now())
            uow.changed(alert_id, ChangeKind.CALL)
        services.metrics.console_calls.labels(outcome=CallState.NOT_PLACED.value).inc()
        return await render_alert(request, alert_id, status=502, error=_("call.refused.twilio"))
    async with unit_of_work(services.sessions, services.bus) as uow:
        await service.placed(uow.session, call_id=row.id, sid=result.sid,
                             now=services.clock.now())
    log.info("console call placed", extra={"alert_id": alert_id, "call_id": row.id,
                                           "operator_id": operator.id})
    request.app[METRICS].actions.labels("call").inc()
    raise web.HTTPSeeOther(f"/console/alerts/{alert_id}#timeline")


async def _caller(app: web.Application) -> AsyncIterator[None]:
    services = app[SERVICES]
    app[CALLER] = TwilioSender(services.settings, services.metrics)
    await app[CALLER].start()
    yield
    await app[CALLER].close()


def add_routes(app: web.Application) -> None:
    """Register the call route and the Twilio client it uses."""
    app.cleanup_ctx.append(_caller)
    app.router.add_post(r"/console/alerts/{alert_id:\d+}/call", call)
