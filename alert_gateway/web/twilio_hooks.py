"""Twilio webhooks. Configure the number's messaging webhook as POST {public_url}/twilio/sms/inbound.

Paths (all POST, form-encoded, every one signed with X-Twilio-Signature over public_url + path):
- /twilio/sms/inbound                 inbound SMS: "1"/"OK"/"はい" accepts, "2" declines, STOP/START
- /twilio/sms/status?attempt=ID       message status callback
- /twilio/voice/status?attempt=ID     call progress callback
- /twilio/voice/amd?attempt=ID        asynchronous answering-machine detection
- /twilio/voice/gather?attempt=ID     the <Gather> action: the key a person pressed
- /twilio/voice/twiml?attempt=ID      the call's TwiML (for calls placed with Url= instead of Twiml=)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiDictProxy

from ..db.models import NotificationAttempt
from ..escalation import callbacks, inbound
from ..escalation.attempts import tells_nothing_new
from ..escalation.callbacks import HookResult
from ..escalation.dispatch import callback_url
from ..services import Services
from ..twilio.signature import check_signature
from ..twilio.twiml import alert_call_twiml, messaging_reply, reply_twiml
from .keys import SERVICES

log = logging.getLogger(__name__)
Apply = Callable[[Any, MultiDictProxy[Any], int | None], Awaitable[HookResult]]


def add_routes(app: web.Application) -> None:
    """Register every Twilio webhook on the app."""
    r = app.router
    r.add_post("/twilio/sms/inbound", _sms_inbound)
    r.add_post("/twilio/sms/status", _sms_status)
    r.add_post("/twilio/voice/status", _voice_status)
    r.add_post("/twilio/voice/amd", _voice_amd)
    r.add_post("/twilio/voice/gather", _voice_gather)
    r.add_post("/twilio/voice/twiml", _voice_twiml)


async def _verified(request: web.Request) -> MultiDictProxy[Any]:
    """The posted form if the signature matches our public URL; otherwise 403 and nothing changes."""
    services = request.app[SERVICES]
    form = await request.post()
    if not check_signature(services.settings, path_qs=request.rel_url.path_qs, params=form,
                           signature=request.headers.get("X-Twilio-Signature")):
        reason = "missing_signature" if "X-Twilio-Signature" not in request.headers else "bad_signature"
        services.metrics.webhooks_refused.labels(reason=reason).inc()
        log.warning("twilio webhook refused", extra={"path": request.path, "reason": reason})
        raise web.HTTPForbidden(text="invalid Twilio signature")
    return form


def _attempt_id(request: web.Request) -> int | None:
    raw = request.query.get("attempt", "")
    return int(raw) if raw.isdigit() else None


async def _run(request: web.Request, apply: Apply,
               idle: Callable[[MultiDictProxy[Any]], bool] = lambda form: False) -> HookResult:
    """Verify, apply in a transaction shared with concurrent callbacks, commit, then publish.

    `idle(form)`: the callback carries nothing new (a status the API answer already gave), so
    after its signature is checked it costs no transaction.
    """
    form = await _verified(request)
    services = request.app[SERVICES]
    attempt_id = _attempt_id(request)
    if idle(form):
        return HookResult()
    result: HookResult = await services.writes.run(
        lambda session: apply(session, form, attempt_id),
        preload=(NotificationAttempt, attempt_id) if attempt_id is not None else None)
    for change in result.changes:
        await services.bus.publish(change)
    return result


def _xml(text: str) -> web.Response:
    return web.Response(text=text, content_type="application/xml")


def _services(request: web.Request) -> Services:
    return request.app[SERVICES]


async def _sms_status(request: web.Request) -> web.Response:
    s = _services(request)

    async def apply(session: Any, form: MultiDictProxy[Any], attempt_id: int | None) -> HookResult:
        if attempt_id is None:
            return HookResult()
        return await callbacks.message_status(
            session, attempt_id=attempt_id, sid=form.get("MessageSid"),
            status=str(form.get("MessageStatus") or form.get("SmsStatus") or ""),
            error_code=form.get("ErrorCode"), now=s.clock.now(), metrics=s.metrics)

    await _run(request, apply, idle=lambda form: tells_nothing_new(
        "sms", str(form.get("MessageStatus") or form.get("SmsStatus") or "")))
    return web.Response(status=204)


async def _voice_status(request: web.Request) -> web.Response:
    s = _services(request)

    async def apply(session: Any, form: MultiDictProxy[Any], attempt_id: int | None) -> HookResult:
        if attempt_id is None:
            return HookResult()
        return await callbacks.call_status(
            session, attempt_id=attempt_id, sid=form.get("CallSid"),
            status=str(form.get("CallStatus") or ""), answered_by=form.get("AnsweredBy"),
            now=s.clock.now(), metrics=s.metrics)

    await _run(request, apply,
               idle=lambda form: tells_nothing_new("voice", str(form.get("CallStatus") or "")))
    return web.Response(status=204)


async def _voice_amd(request: web.Request) -> web.Response:
    s = _services(request)

    async def apply(session: Any, form: MultiDictProxy[Any], attempt_id: int | None) -> HookResult:
        if attempt_id is None:
            return HookResult()
        return await callbacks.amd(session, attempt_id=attempt_id, sid=form.get("CallSid"),
                                   answered_by=str(form.get("AnsweredBy") or "unknown"),
                                   now=s.clock.now(), metrics=s.metrics)

    await _run(request, apply)
    return web.Response(status=204)


async def _voice_gather(request: web.Request) -> web.Response:
    s = _services(request)
    tz = ZoneInfo(s.settings.timezone)

    async def apply(session: Any, form: MultiDictProxy[Any], attempt_id: int | None) -> HookResult:
        if attempt_id is None:
            return HookResult()
        return await callbacks.keypress(session, attempt_id=attempt_id, sid=form.get("CallSid"),
                                        digits=str(form.get("Digits") or ""), now=s.clock.now(),
                                        tz=tz, metrics=s.metrics)

    result = await _run(request, apply)
    lang = {"ja": "ja-JP", "en": "en-US"}.get(result.language, "ja-JP")
    return _xml(reply_twiml(result.say or "", lang))


async def _sms_inbound(request: web.Request) -> web.Response:
    s = _services(request)
    tz = ZoneInfo(s.settings.timezone)

    async def apply(session: Any, form: MultiDictProxy[Any], attempt_id: int | None) -> HookResult:
        return await inbound.inbound_sms(session, from_=str(form.get("From") or ""),
                                         body=str(form.get("Body") or ""), now=s.clock.now(), tz=tz,
                                         replies_per_hour=s.settings.sms_auto_replies_per_hour)

    result = await _run(request, apply)
    return _xml(messaging_reply(result.say))


async def _voice_twiml(request: web.Request) -> web.Response:
    s = _services(request)
    await _verified(request)
    attempt_id = _attempt_id(request)
    async with s.sessions() as session:
        row = await session.get(NotificationAttempt, attempt_id) if attempt_id else None
    if row is None:
        return _xml(reply_twiml("", "ja-JP"))
    spoken = json.loads(row.body or "{}")
    return _xml(alert_call_twiml(
        text=spoken.get("text", ""), language=spoken.get("language", "ja-JP"),
        action_url=callback_url(s.settings.public_url, "voice/gather", row.id or 0),
        repeat_text=spoken.get("repeat", ""), goodbye_text=spoken.get("goodbye", "")))
