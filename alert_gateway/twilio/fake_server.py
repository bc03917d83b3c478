"""A Twilio-compatible server for tests, demos and drills: the SDK's REST subset + /_fake/."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from ..web.access_log import AccessLog
from . import fake_control
from .fake_control import FAKE_KEY, NETWORK_KEY
from .fake_lifecycle import Network
from .fake_state import FailRule, FakeCall, FakeMessage, FakeTwilio, Recorded, new_sid

API_PREFIX = "/2010-04-01/Accounts/{account}"
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
NOT_ANSWERED = ("queued", "initiated", "ringing")
DEFAULT_CODES = {400: 21211, 401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def twilio_error(status: int, code: int | None = None, message: str = "",
                 retry_after: float | None = None) -> web.Response:
    """An error body shaped like Twilio's legacy JSON errors, which the SDK parses."""
    code = code or DEFAULT_CODES.get(status, status)
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    return web.json_response(
        {"code": code, "message": message or f"Fake Twilio error {code}",
         "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
        status=status, headers=headers,
    )


def _authorized(request: web.Request, fake: FakeTwilio) -> bool:
    """HTTP Basic with the account sid and auth token, as the SDK sends it."""
    kind, _, encoded = request.headers.get("Authorization", "").partition(" ")
    try:
        user, _, password = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return kind.lower() == "basic" and (user, password) == (fake.account_sid, fake.auth_token)


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record every REST request, check auth, then apply injected failures and delays."""
    if not request.path.startswith("/2010-04-01/"):
        return await handler(request)
    fake = request.app[FAKE_KEY]
    form = await request.post() if request.method == "POST" else request.query
    peer = request.transport.get_extra_info("peername") if request.transport else None
    record = Recorded(time.perf_counter(), "api", request.method, request.path_qs,
                      {k: form.getall(k) for k in form}, None,  # type: ignore[misc]
                      client_port=peer[1] if peer else None)
    fake.recorded.append(record)
    return await _api_response(request, handler, fake, record)


async def _api_response(
    request: web.Request, handler: Handler, fake: FakeTwilio, record: Recorded
) -> web.StreamResponse:
    if not _authorized(request, fake):
        return await _answered(fake, record, twilio_error(401, 20003, "Authenticate"))
    if request.match_info.get("account") != fake.account_sid:
        return await _answered(fake, record, twilio_error(
            404, 20404, "The requested resource was not found"))
    # Injected failures are for what the gateway sends and looks up, never its warm-up's read of
    # the account: a test that holds "the next two requests" means two sends.
    rule = None if request.path.endswith(f"/Accounts/{fake.account_sid}.json") \
        else fake.take_fail_rule()
    release = fake.hold() if rule is not None and rule.hold else None
    # Seen only now, so a test that sees a held request can release it at once.
    await fake.changed()
    if rule is not None and (rule.delay or rule.drop or release is not None):
        # Twilio finishes a request it has received even when the client stops waiting (our
        # timeout): the held request runs on in a task of its own, which the test server's
        # cancelling of the handler on disconnect does not reach.
        return await asyncio.shield(
            fake.spawn(_held(request, handler, fake, record, rule, release)))
    if rule is not None and rule.status:
        return await _answered(fake, record, twilio_error(rule.status, rule.code,
                                                          retry_after=rule.retry_after))
    return await _answered(fake, record, await handler(request))


async def _held(request: web.Request, handler: Handler, fake: FakeTwilio, record: Recorded,
                rule: FailRule, release: asyncio.Event | None) -> web.StreamResponse:
    """A slow server on purpose, for `rule.delay` seconds or until `release`; shutdown cuts it
    short. A dropped request is served, then its connection closed unanswered."""
    waits = [fake.stopping.wait()] + ([release.wait()] if release is not None else [])
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, timeout=None if release is not None else rule.delay,
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
    if rule.status:
        return await _answered(fake, record, twilio_error(rule.status, rule.code,
                                                          retry_after=rule.retry_after))
    response = await handler(request)
    if rule.drop and request.transport is not None:
        record.dropped = True
        request.transport.close()  # before any byte of the answer: the client sees a disconnect
    return await _answered(fake, record, response)


async def _answered(fake: FakeTwilio, record: Recorded,
                    response: web.StreamResponse) -> web.StreamResponse:
    record.status = response.status
    record.answered_at = time.perf_counter()
    await fake.changed()
    return response


async def create_message(request: web.Request) -> web.Response:
    """POST Messages.json: accept an SMS and start its delivery lifecycle."""
    fake, form = request.app[FAKE_KEY], await request.post()
    to, body = str(form.get("To", "")), str(form.get("Body", ""))
    if not E164.match(to):
        return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if not body:
        return twilio_error(400, 21602, "Message body is required.")
    msg = FakeMessage(new_sid("SM"), "outbound-api", str(form.get("From", "")), to, body,
                      "queued", status_callback=str(form.get("StatusCallback") or "") or None)
    fake.messages[msg.sid] = msg
    fake.spawn(request.app[NETWORK_KEY].run_message(msg))
    await fake.changed()
    return web.json_response(msg.api_json(fake.account_sid), status=201)


async def create_call(request: web.Request) -> web.Response:
    """POST Calls.json: accept a call and start ringing the scripted phone."""
    fake, form = request.app[FAKE_KEY], await request.post()
    to = str(form.get("To", ""))
    if not E164.match(to):
        return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if not (form.get("Url") or form.get("Twiml")):
        return twilio_error(400, 21205, "Url parameter is required.")
    if form.get("AsyncAmd") == "true" and not form.get("AsyncAmdStatusCallback"):
        return twilio_error(400, 21262, "AsyncAmdStatusCallback is required with AsyncAmd.")
    params = {k: [str(v) for v in form.getall(k)] for k in set(form.keys())}
    call = FakeCall(new_sid("CA"), str(form.get("From", "")), to, "queued", params)
    fake.calls[call.sid] = call
    call.lifecycle = fake.spawn(request.app[NETWORK_KEY].run_call(call))
    await fake.changed()
    return web.json_response(call.api_json(fake.account_sid), status=201)


async def update_call(request: web.Request) -> web.Response:
    """POST Calls/{sid}.json with Status: `canceled` ends a queued or ringing call, `completed`
    any live call; the status callback follows, and the answer is the call as it is now."""
    fake, form = request.app[FAKE_KEY], await request.post()
    call = fake.calls.get(request.match_info["sid"])
    if call is None:
        return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
    status = str(form.get("Status", ""))
    if status not in ("canceled", "completed"):
        return twilio_error(400, 21218, "Status must be canceled or completed.")
    ends = NOT_ANSWERED if status == "canceled" else (*NOT_ANSWERED, "in-progress")
    if call.status in ends and call.hung_up is None:
        request.app[NETWORK_KEY].hang_up(call, status)
        await fake.changed()
    return web.json_response(call.api_json(fake.account_sid))


async def fetch_account(request: web.Request) -> web.Response:
    """GET Accounts/{sid}.json: the account itself (the gateway reads it to warm its connections)."""
    sid = request.app[FAKE_KEY].account_sid
    return web.json_response({"sid": sid, "friendly_name": "Fake Twilio", "status": "active",
                              "type": "Full", "owner_account_sid": sid,
                              "uri": f"/2010-04-01/Accounts/{sid}.json"})


async def fetch_resource(request: web.Request) -> web.Response:
    """GET Messages/{sid}.json or Calls/{sid}.json: the current state."""
    fake, sid = request.app[FAKE_KEY], request.match_info["sid"]
    found: FakeMessage | FakeCall | None = fake.messages.get(sid) or fake.calls.get(sid)
    if found is None:
        return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
    return web.json_response(found.api_json(fake.account_sid))


async def list_resources(request: web.Request) -> web.Response:
    """GET Messages.json or Calls.json[?To=&From=&PageSize=]: newest first, as Twilio lists them;
    only the first page (the fake does not page)."""
    fake, kind = request.app[FAKE_KEY], request.match_info["kind"]
    items: list[FakeMessage | FakeCall] = [
        *(fake.messages.values() if kind == "Messages" else fake.calls.values())]
    to, from_ = request.query.get("To"), request.query.get("From")
    chosen = [i for i in reversed(items)
              if (to is None or i.to == to) and (from_ is None or i.from_ == from_)]
    try:
        size = min(1000, int(request.query.get("PageSize", "50")))
    except ValueError:
        return twilio_error(400, 20001, "PageSize must be a number")
    uri = request.path_qs
    return web.json_response({
        kind.lower(): [i.api_json(fake.account_sid) for i in chosen[:size]],
        "page": 0, "page_size": size, "start": 0, "end": max(0, min(size, len(chosen)) - 1),
        "uri": uri, "first_page_uri": uri, "previous_page_uri": None, "next_page_uri": None,
    })


# --- control API ---


def _filtered(items: list[Any], request: web.Request) -> web.Response:
    to = request.query.get("to")
    views = [i.view() for i in items if to is None or i.to == to or i.from_ == to]
    return web.json_response(views, dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def list_messages(request: web.Request) -> web.Response:
    """GET /_fake/messages[?to=]: every message, oldest first."""
    return _filtered(list(request.app[FAKE_KEY].messages.values()), request)


async def list_calls(request: web.Request) -> web.Response:
    """GET /_fake/calls[?to=]: every call, oldest first."""
    return _filtered(list(request.app[FAKE_KEY].calls.values()), request)


def make_fake_twilio_app(
    *,
    auth_token: str,
    account_sid: str,
    webhook_base: str | None = None,
    deliver_base: str | None = None,
    step_delay: float = 0.0,
    fake: FakeTwilio | None = None,
) -> web.Application:
    """The fake's aiohttp app; its state is `app[FAKE_KEY]`."""
    app = web.Application(middlewares=[api_middleware])
    app[FAKE_KEY] = fake or FakeTwilio(account_sid, auth_token, webhook_base=webhook_base,
                                       deliver_base=deliver_base, step_delay=step_delay)
    app[NETWORK_KEY] = Network(app[FAKE_KEY])

    async def network(app: web.Application) -> AsyncIterator[None]:
        await app[NETWORK_KEY].start()
        yield
        await app[NETWORK_KEY].close()

    async def stop_delays(app: web.Application) -> None:
        stop_holding(app)
        await app[FAKE_KEY].cancel_tasks()

    app.cleanup_ctx.append(network)
    app.on_shutdown.append(stop_delays)
    r = app.router
    r.add_get(API_PREFIX + ".json", fetch_account)
    r.add_post(API_PREFIX + "/Messages.json", create_message)
    r.add_post(API_PREFIX + "/Calls.json", create_call)
    r.add_get(API_PREFIX + "/{kind:Messages|Calls}.json", list_resources)
    r.add_get(API_PREFIX + "/Messages/{sid}.json", fetch_resource)
    r.add_get(API_PREFIX + "/Calls/{sid}.json", fetch_resource)
    r.add_post(API_PREFIX + "/Calls/{sid}.json", update_call)
    r.add_get("/_fake/messages", list_messages)
    r.add_get("/_fake/calls", list_calls)
    fake_control.add_routes(r)
    return app


def fake_of(app: web.Application) -> FakeTwilio:
    """The state object of an app made by make_fake_twilio_app."""
    return app[FAKE_KEY]


async def stop_posting(app: web.Application) -> None:
    """The fake's phone network posts no more callbacks or webhooks (fake_lifecycle.Network):
    call it before the server they go to stops."""
    await app[NETWORK_KEY].stop_posting()


def stop_holding(app: web.Application) -> None:
    """Answer the requests the fake holds or delays, now and from here on, as it does when it
    stops: call it before the client that sent them stops, since that client (the gateway) waits
    for its requests in flight, and a fake that answers them only once it stops itself, after
    the client, holds the client's stop for as long as the client waits."""
    app[FAKE_KEY].stopping.set()


async def run_fake_twilio(
    host: str, port: int, *, auth_token: str, account_sid: str, webhook_base: str | None,
    step_delay: float = 0.0,
) -> None:
    """Serve the fake until cancelled (`alert-gateway fake-twilio`)."""
    app = make_fake_twilio_app(auth_token=auth_token, account_sid=account_sid,
                               webhook_base=webhook_base, step_delay=step_delay)
    runner = web.AppRunner(app, access_log_class=AccessLog)  # its paths hold phone numbers
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, backlog=1024).start()  # drills open hundreds at once
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
