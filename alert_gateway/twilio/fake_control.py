"""The fake Twilio's own controls (/_fake/ and the phones page): what tests, demos and drills
script (how each phone answers, keys pressed, failures) and read back (every request)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from aiohttp import web

from .fake_lifecycle import Network
from .fake_state import FailRule, FakeTwilio

FAKE_KEY = web.AppKey("fake_twilio", FakeTwilio)
NETWORK_KEY = web.AppKey("fake_twilio_network", Network)


def add_routes(r: web.UrlDispatcher) -> None:
    """Register the control routes on the fake's router."""
    r.add_get("/_fake/phones", list_phones)
    r.add_get("/_fake/requests", requests_log)
    r.add_post("/_fake/phones/{number}", set_phone)
    r.add_post("/_fake/phones/{number}/sms", phone_sms)
    r.add_post("/_fake/calls/{sid}/press", press)
    r.add_post("/_fake/fail", fail)
    r.add_post("/_fake/release", release)
    r.add_post("/_fake/reset", reset)
    r.add_get("/", phones_page)


async def list_phones(request: web.Request) -> web.Response:
    """GET /_fake/phones: the scripted behaviour of each known number."""
    fake = request.app[FAKE_KEY]
    return web.json_response({n: vars(b) for n, b in fake.phones.items()})


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON object (empty without a body); 400 for anything else. The fake LINE
    reads its control requests with it too."""
    try:
        data = await request.json() if request.can_read_body else {}
    except json.JSONDecodeError as exc:
        raise web.HTTPBadRequest(text=f"invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return data


async def set_phone(request: web.Request) -> web.Response:
    """POST /_fake/phones/{number}: script how this phone answers calls and SMS."""
    fake, number = request.app[FAKE_KEY], request.match_info["number"]
    behaviour = fake.phone(number)
    try:
        behaviour.update(await json_object(request))
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    await fake.changed()
    return web.json_response(vars(behaviour))


async def phone_sms(request: web.Request) -> web.Response:
    """POST /_fake/phones/{number}/sms {"body"}: the phone texts the gateway; returns replies."""
    fake, number = request.app[FAKE_KEY], request.match_info["number"]
    body = str((await json_object(request)).get("body", ""))
    try:
        msg = await request.app[NETWORK_KEY].inbound_sms(number, body)
    except LookupError as exc:
        raise web.HTTPConflict(text=str(exc)) from exc
    replies = [m.view() for m in fake.messages.values()
               if m.direction == "outbound-reply" and m.received_at >= msg.received_at]
    return web.json_response({"message": msg.view(), "replies": replies},
                             dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def press(request: web.Request) -> web.Response:
    """POST /_fake/calls/{sid}/press {"digits"}: press a key on a call waiting at a Gather."""
    fake = request.app[FAKE_KEY]
    call = fake.calls.get(request.match_info["sid"])
    if call is None:
        raise web.HTTPNotFound(text="no such call")
    if not call.waiting:
        raise web.HTTPConflict(text="the call is not waiting at a Gather")
    call.press_queue.put_nowait(str((await json_object(request)).get("digits", "")))
    return web.json_response({"sid": call.sid, "accepted": True}, status=202)


async def fail(request: web.Request) -> web.Response:
    """POST /_fake/fail {"status"?, "delay"?, "hold"?, "count"?, "code"?, "retry_after"?, "drop"?}:
    break the next API requests (a delay alone holds each request, then serves it; "hold": true
    holds each one until /_fake/release, or until the fake stops holding (fake_server.stop_holding,
    or it stops); with "drop" the request is served and its answer lost)."""
    fake, data = request.app[FAKE_KEY], await json_object(request)
    try:
        rule = FailRule(
            status=int(data["status"]) if data.get("status") else None,
            delay=float(data.get("delay", 0)), count=int(data.get("count", 1)),
            code=int(data["code"]) if data.get("code") else None,
            retry_after=float(data["retry_after"]) if "retry_after" in data else None,
            drop=bool(data.get("drop", False)),
            hold=bool(data.get("hold", False)),
        )
    except (TypeError, ValueError) as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    fake.fail_rules.append(rule)
    return web.json_response(vars(rule))


async def release(request: web.Request) -> web.Response:
    """POST /_fake/release {"count"?}: answer the oldest held requests (one by default); 409 if
    fewer are held, so a test that releases too early says so."""
    fake, data = request.app[FAKE_KEY], await json_object(request)
    try:
        count = int(data.get("count", 1))
    except (TypeError, ValueError) as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    try:
        fake.release(count)
    except ValueError as exc:
        raise web.HTTPConflict(text=str(exc)) from exc
    return web.json_response({"released": count, "held": len(fake.held)})


async def reset(request: web.Request) -> web.Response:
    """POST /_fake/reset: forget everything."""
    await request.app[FAKE_KEY].reset()
    return web.json_response({"reset": True})


async def requests_log(request: web.Request) -> web.Response:
    """GET /_fake/requests: every API request received and callback sent."""
    return web.json_response([vars(r) for r in request.app[FAKE_KEY].recorded],
                             dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def phones_page(request: web.Request) -> web.Response:
    """GET /: the phones page."""
    html = resources.files(__package__).joinpath("fake_page.html").read_text("utf-8")
    return web.Response(text=html, content_type="text/html", charset="utf-8")
