"""The fake's REST edge and /_fake/ control API, used directly over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from alert_gateway.twilio.fake_server import fake_of, make_fake_twilio_app

from .conftest import ACCOUNT_SID, AUTH_TOKEN, Env

TO = "+819033334444"


async def request(env: Env, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    """One HTTP request to the fake; JSON body when there is one."""
    async with aiohttp.ClientSession() as session:
        async with session.request(method, env.fake_url + path, **kwargs) as resp:
            is_json = resp.content_type == "application/json"
            return resp.status, await resp.json() if is_json else await resp.text()


async def test_api_rejects_wrong_credentials_like_twilio(env: Env) -> None:
    """Wrong Basic auth gets 401 with Twilio's error code 20003."""
    status, body = await request(
        env, "POST", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
        data={"To": TO, "Body": "x"}, auth=aiohttp.BasicAuth(ACCOUNT_SID, "nope"))
    assert (status, body["code"]) == (401, 20003)
    assert env.fake.messages == {}


async def test_fail_rule_counts_down(env: Env) -> None:
    """{"status": 503, "count": 2} fails exactly the next two API requests."""
    await request(env, "POST", "/_fake/fail", json={"status": 503, "count": 2})
    auth = aiohttp.BasicAuth(ACCOUNT_SID, AUTH_TOKEN)
    path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    statuses = [(await request(env, "POST", path, data={"To": TO, "Body": "x"}, auth=auth))[0]
                for _ in range(3)]
    assert statuses == [503, 503, 201]
    assert [r.status for r in env.fake.api_requests("Messages")] == [503, 503, 201]


async def test_a_held_request_is_answered_only_when_released(env: Env) -> None:
    """{"hold": true} keeps the next API request unanswered until /_fake/release; releasing what
    is not held is a 409."""
    await request(env, "POST", "/_fake/fail", json={"hold": True, "count": 1})
    sending = asyncio.ensure_future(
        env.sender.send_sms(to=TO, body="x", status_callback=env.hooks_url + "/x/y"))
    try:
        await env.fake.wait_for(lambda f: f.held)
        assert (env.fake.messages, sending.done()) == ({}, False)
        assert (await request(env, "POST", "/_fake/release"))[0] == 200
        assert (await sending).sid in env.fake.messages
    finally:
        sending.cancel()
    status, text = await request(env, "POST", "/_fake/release")
    assert status == 409 and "1 request(s), 0 held" in text, text


async def test_lists_filter_by_number_and_keep_japanese(env: Env) -> None:
    """GET /_fake/messages?to= returns only that phone's messages, UTF-8 intact."""
    await env.sender.send_sms(to=TO, body="見守りアラート", status_callback=env.hooks_url + "/x/y")
    await env.sender.send_sms(to="+819055556666", body="other", status_callback=env.hooks_url)
    status, messages = await request(env, "GET", f"/_fake/messages?to=%2B{TO[1:]}")
    assert status == 200
    assert [(m["to"], m["body"]) for m in messages] == [(TO, "見守りアラート")]
    _, calls = await request(env, "GET", "/_fake/calls")
    assert calls == []


async def test_phone_behaviour_is_validated(env: Env) -> None:
    """An unknown mode is a 400; a valid partial update keeps the other fields."""
    status, _ = await request(env, "POST", f"/_fake/phones/{TO}", json={"call": "maybe"})
    assert status == 400
    status, body = await request(env, "POST", f"/_fake/phones/{TO}", json={"press": "2"})
    assert (status, body) == (200, {"call": "answer", "press": "2", "sms": "deliver"})


async def test_press_on_call_not_waiting_is_conflict(env: Env) -> None:
    """Pressing a key on a call that is not at a Gather is refused with 409."""
    result = await env.sender.place_call(to=TO, twiml="<Response/>",
                                         status_callback=env.hooks_url + "/twilio/v/s",
                                         amd_callback=env.hooks_url + "/twilio/v/a")
    await env.fake.wait_for(lambda f: f.calls[result.sid].finished)
    status, _ = await request(env, "POST", f"/_fake/calls/{result.sid}/press",
                              json={"digits": "1"})
    assert status == 409


async def test_reset_forgets_everything(env: Env) -> None:
    """POST /_fake/reset empties resources, scripts, failures and the request log."""
    await env.sender.send_sms(to=TO, body="x", status_callback=env.hooks_url + "/x/y")
    await request(env, "POST", f"/_fake/phones/{TO}", json={"sms": "failed"})
    await request(env, "POST", "/_fake/fail", json={"status": 500})
    await request(env, "POST", "/_fake/reset")
    assert (env.fake.messages, env.fake.phones, env.fake.fail_rules, env.fake.recorded) == (
        {}, {}, [], [])


async def test_phones_page_is_utf8_and_escapes(env: Env) -> None:
    """GET / serves the phones page as UTF-8 and never injects raw HTML."""
    status, html = await request(env, "GET", "/")
    assert status == 200 and '<meta charset="utf-8">' in html
    assert "innerHTML" not in html and "textContent" in html
    assert "/_fake/messages" in html and "/_fake/calls" in html


async def test_wait_for_times_out() -> None:
    """wait_for raises TimeoutError when nothing changes within its bound."""
    app = make_fake_twilio_app(auth_token=AUTH_TOKEN, account_sid=ACCOUNT_SID)
    with pytest.raises(TimeoutError):
        await fake_of(app).wait_for(lambda f: f.messages, timeout=0.05)


async def test_inbound_sms_without_webhook_base_is_conflict() -> None:
    """Without webhook_base the fake cannot deliver inbound SMS, and says so."""
    app = make_fake_twilio_app(auth_token=AUTH_TOKEN, account_sid=ACCOUNT_SID)
    async with TestClient(TestServer(app)) as client:
        resp = await client.post(f"/_fake/phones/{TO}/sms", json={"body": "1"})
        assert resp.status == 409
