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

import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiDictProxy

from ..appkeys import SERVICES
from ..db.models import NotificationAttempt, Purpose
from ..outbox.attempts import map_status, on_the_way, tells_nothing_new
from ..outbox.sending import gather_url
from ..outbox.texts import VOICE_LANGUAGES
from ..responses import callbacks, inbound, keypress, sweep_fine
from ..responses.callbacks import HookResult
from ..services import Services
from ..twilio.signature import check_signature
from ..twilio.twiml import alert_call_twiml, messaging_reply, reply_twiml
from ..unit_of_work import publish
from ..validation import first_bad_text, parse_id

log = logging.getLogger(__name__)
SID_FIELDS = ("MessageSid", "SmsSid", "CallSid")  # kept in NotificationAttempt.provider_sid
SID_LENGTH: int = NotificationAttempt.__table__.c.provider_sid.type.length  # type: ignore[attr-defined]
Apply = Callable[[Any, MultiDictProxy[Any], int | None], Awaitable[HookResult]]
# Status callbacks, most of an alarm's webhooks. Answered 2xx they get no access-log line (see
# web/access_log.py); what they change is on the attempt and its timeline, a refusal is logged.
STATUS_PATHS = frozenset({"/twilio/sms/status", "/twilio/voice/status", "/twilio/voice/amd"})


class _Refused(Exception):
    """A signed request carrying a value no attempt or column can hold (see `_checked`)."""


def _refusable(handler: Callable[[web.Request], Awaitable[web.Response]],
               answer: Callable[[], web.Response]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except _Refused:
            return answer()
    return wrapped


def _bad_request() -> web.Response:
    # Status callbacks: nobody is waiting on the line; Twilio logs the 400 in its debugger.
    return web.Response(status=400, text="a parameter holds a value the gateway cannot store")


def _silent_call() -> web.Response:
    # TwiML hooks: a person is on the line, and an HTTP error makes Twilio say "an application
    # error has occurred"; an empty reply ends the call quietly, as for an unknown attempt.
    return _xml(reply_twiml("", "ja-JP"))


def _no_sms_reply() -> web.Response:
    return _xml(messaging_reply(None))


def add_routes(app: web.Application) -> None:
    """Register every Twilio webhook on the app, each with its answer to a refused value."""
    r = app.router
    r.add_post("/twilio/sms/inbound", _refusable(_sms_inbound, _no_sms_reply))
    r.add_post("/twilio/sms/status", _refusable(_sms_status, _bad_request))
    r.add_post("/twilio/voice/status", _refusable(_voice_status, _bad_request))
    r.add_post("/twilio/voice/amd", _refusable(_voice_amd, _bad_request))
    r.add_post("/twilio/voice/gather", _refusable(_voice_gather, _silent_call))
    r.add_post("/twilio/voice/twiml", _refusable(_voice_twiml, _silent_call))


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


async def _checked(request: web.Request) -> tuple[MultiDictProxy[Any], int | None]:
    """The verified form and the attempt id; _Refused for values the database cannot hold.

    Checked after the signature, so an unsigned request learns nothing. Our callback URLs always
    carry an id within the column's range, so anything else is garbled or forged: refused, logged
    and counted, never looked up (an id beyond int32 is a database error on PostgreSQL).
    """
    form = await _verified(request)
    raw = request.query.get("attempt")
    attempt_id = parse_id(raw) if raw is not None else None
    bad = first_bad_text(itertools.chain(request.query.items(), form.items()))
    long_sid = next((name for name in SID_FIELDS if len(str(form.get(name) or "")) > SID_LENGTH),
                    None)
    if bad is not None or long_sid is not None or (raw is not None and attempt_id is None):
        field = bad.field if bad is not None else long_sid or "attempt"
        request.app[SERVICES].metrics.webhooks_refused.labels(reason="bad_input").inc()
        log.warning("twilio webhook refused: a value cannot be stored",
                    extra={"path": request.path, "field": field[:40]})
        raise _Refused
    return form, attempt_id


Judge = Callable[[MultiDictProxy[Any]], bool]
Alone = Callable[[MultiDictProxy[Any], int], Awaitable[HookResult | None]]


async def _run(request: web.Request, apply: Apply, idle: Judge = lambda form: False,
               can_wait: Judge = lambda form: False, alone: Alone | None = None) -> HookResult:
    """Verify, apply in a transaction shared with concurrent callbacks, commit, then publish.

    `idle(form)`: the callback carries nothing new (a status the API answer already gave), so
    after its signature is checked it costs no transaction. `can_wait(form)`: nobody acts on it
    now, so its write may wait a little for others to share its transaction (db/groupcommit.py).
    `alone(form, attempt_id)`: the common case as one statement, no transaction around it; None
    when it did not apply (then `apply` does).
    """
    form, attempt_id = await _checked(request)
    services = request.app[SERVICES]
    if idle(form):
        return HookResult()
    found = await alone(form, attempt_id) if alone is not None and attempt_id is not None else None
    result: HookResult = found if found is not None else await services.writes.run(
        lambda session: apply(session, form, attempt_id), can_wait=can_wait(form))
    # Shared with concurrent callbacks and send results in one transaction (the group commit),
    # so not a unit of work of its own: its changes go out after that shared commit.
    await publish(services.bus, result.changes)
    return result


def _xml(text: str) -> web.Response:
    return web.Response(text=text, content_type="application/xml")


def _services(request: web.Request) -> Services:
    return request.app[SERVICES]


async def _sms_status(request: web.Request) -> web.Response:
    s = _services(request)
    now = s.clock.now()  # when Twilio told us, not when the shared write ran

    async def apply(session: Any, form: MultiDictProxy[Any], attempt_id: int | None) -> HookResult:
        if attempt_id is None:
            return HookResult()
        return await callbacks.message_status(
            session, attempt_id=attempt_id, sid=form.get("MessageSid"),
            status=str(form.get("MessageStatus") or form.get("SmsStatus") or ""),
            error_code=form.get("ErrorCode"), now=now, metrics=s.metrics)

    def status(form: MultiDictProxy[Any]) -> str:
        return str(form.get("MessageStatus") or form.get("SmsStatus") or "")

    async def alone(form: MultiDictProxy[Any], attempt_id: int) -> HookResult | None:
        return await callbacks.lone_move(
            s.writes, attempt_id, form.get("MessageSid"), map_status("sms", status(form)),
            now=now, metrics=s.metrics, error_code=form.get("ErrorCode"))

    await _run(request, apply, idle=lambda form: tells_nothing_new("sms", status(form)),
               can_wait=lambda form: on_the_way("sms", status(form)), alone=alone)
    return web.Response(status=204)


async def _voice_status(request: web.Request) -> web.Response:
    s = _services(request)
    now = s.clock.now()  # when Twilio told us, not when the shared write ran

    async def apply(session: Any, form: MultiDictProxy[Any], attempt_id: int | None) -> HookResult:
        if attempt_id is None:
            return HookResult()
        return await callbacks.call_status(
            session, attempt_id=attempt_id, sid=form.get("CallSid"),
            status=str(form.get("CallStatus") or ""), answered_by=form.get("AnsweredBy"),
            now=now, metrics=s.metrics)

    async def alone(form: MultiDictProxy[Any], attempt_id: int) -> HookResult | None:
        return await callbacks.lone_move(
            s.writes, attempt_id, form.get("CallSid"),
            map_status("voice", str(form.get("CallStatus") or "")), now=now, metrics=s.metrics,
            answered_by=form.get("AnsweredBy"))

    result = await _run(
        request, apply, idle=lambda form: tells_nothing_new("voice", str(form.get("CallStatus") or "")),
        can_wait=lambda form: on_the_way("voice", str(form.get("CallStatus") or "")), alone=alone)
    ended = map_status("voice", str((await request.post()).get("CallStatus") or ""))
    if result.sweep_call and ended is not None and ended.is_final:
        # a sweep call that ended frees its place; ringing or answered changes nothing for the
        # runner, and each poke costs it a look that holds the database (alarms wait behind it)
        s.wakers.sweeps()
    return web.Response(status=204)


async def _voice_amd(request: web.Request) -> web.Response:
    s = _services(request)
    now = s.clock.now()  # when Twilio told us, not when the shared write ran

    async def apply(session: Any, form: MultiDictProxy[Any], attempt_id: int | None) -> HookResult:
        if attempt_id is None:
            return HookResult()
        return await callbacks.amd(session, attempt_id=attempt_id, sid=form.get("CallSid"),
                                   answered_by=str(form.get("AnsweredBy") or "unknown"),
                                   now=now, metrics=s.metrics)

    async def alone(form: MultiDictProxy[Any], attempt_id: int) -> HookResult | None:
        if form.get("AnsweredBy") != "human":
            return None
        return await callbacks.lone_human(s.writes, attempt_id, form.get("CallSid"), now=now)

    # a person picked up: shown, acted on by nobody now; a machine fails the attempt (next step)
    await _run(request, apply, can_wait=lambda form: form.get("AnsweredBy") == "human",
               alone=alone)
    return web.Response(status=204)


async def _voice_gather(request: web.Request) -> web.Response:
    s = _services(request)
    tz = ZoneInfo(s.settings.timezone)

    async def apply(session: Any, form: MultiDictProxy[Any], attempt_id: int | None) -> HookResult:
        if attempt_id is None:
            return HookResult()
        return await keypress.keypress(session, attempt_id=attempt_id, sid=form.get("CallSid"),
                                        digits=str(form.get("Digits") or ""), now=s.clock.now(),
                                        tz=tz, metrics=s.metrics)

    async def alone(form: MultiDictProxy[Any], attempt_id: int) -> HookResult | None:
        return await sweep_fine.lone_fine(s.writes, attempt_id, form.get("CallSid"),
                                          str(form.get("Digits") or ""), now=s.clock.now(),
                                          metrics=s.metrics)

    sweep_call = request.query.get("purpose") == Purpose.SWEEP.value  # outbox/sending.py
    result = await _run(request, apply, alone=alone if sweep_call else None)
    if result.sweep_call:  # a sweep call answered frees its place for the next resident
        s.wakers.sweeps()
    lang = VOICE_LANGUAGES.get(result.language, "ja-JP")  # the callee's, as the call spoke it
    return _xml(reply_twiml(result.say or "", lang, voice=s.settings.voice_for(lang)))


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
    _, attempt_id = await _checked(request)
    async with s.sessions() as session:
        row = await session.get(NotificationAttempt, attempt_id) if attempt_id else None
    if row is None:
        return _xml(reply_twiml("", "ja-JP"))
    spoken = json.loads(row.body or "{}")
    language = spoken.get("language", "ja-JP")
    return _xml(alert_call_twiml(
        text=spoken.get("text", ""), language=language,
        action_url=gather_url(s.settings.public_url, row),
        repeat_text=spoken.get("repeat", ""), goodbye_text=spoken.get("goodbye", ""),
        voice=s.settings.voice_for(language)))
