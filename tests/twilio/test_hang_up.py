"""Hanging up a call through the REST API: the SDK's call update against the fake, as Twilio does it."""

from __future__ import annotations

import pytest

from alert_gateway.twilio.client import PermanentSendError
from alert_gateway.twilio.twiml import alert_call_twiml

from .conftest import Env
from .test_fake_lifecycle import TO, script


async def _place(env: Env) -> str:
    """Place an alert call to TO whose callbacks go to the stand-in gateway; returns its sid."""
    twiml = alert_call_twiml(text="緊急通報です。", language="ja-JP",
                             action_url=f"{env.hooks_url}/twilio/voice/gather?attempt=7",
                             repeat_text="", goodbye_text="")
    result = await env.sender.place_call(
        to=TO, twiml=twiml, status_callback=f"{env.hooks_url}/twilio/voice/status?attempt=7",
        amd_callback=f"{env.hooks_url}/twilio/voice/amd?attempt=7")
    return result.sid


def _statuses(env: Env) -> list[str]:
    return [str(h.params["CallStatus"]) for h in env.hooks.at("/twilio/voice/status")]


async def test_a_ringing_call_is_canceled(env: Env) -> None:
    """A call nobody picks up is canceled: the API answers canceled and the last callback says so."""
    await script(env, TO, call="ring")
    sid = await _place(env)
    await env.fake.wait_for(lambda f: f.calls[sid].status == "ringing")
    assert await env.sender.hang_up(sid=sid) == "canceled"
    await env.fake.wait_for(lambda f: f.calls[sid].finished)
    call = env.fake.calls[sid]
    assert (call.status, call.hung_up, call.view()["hung_up"]) == ("canceled", "canceled", "canceled")
    assert _statuses(env)[-1] == "canceled", _statuses(env)
    updates = [r for r in env.fake.api_requests("Calls") if r.url.endswith(f"/Calls/{sid}.json")]
    assert [(r.method, r.params.get("Status"), r.status) for r in updates] == [
        ("POST", ["canceled"], 200)]


async def test_an_answered_call_is_completed(env: Env) -> None:
    """Cancel leaves an answered call alone, so the sender completes it: the call ends."""
    await script(env, TO, call="answer", press="wait")
    sid = await _place(env)
    await env.fake.wait_for(lambda f: f.calls[sid].waiting)
    assert await env.sender.hang_up(sid=sid) == "completed"
    await env.fake.wait_for(lambda f: f.calls[sid].finished)
    assert env.fake.calls[sid].hung_up == "completed"
    assert _statuses(env)[-1] == "completed", _statuses(env)
    updates = [r.params.get("Status") for r in env.fake.api_requests("Calls")
               if r.url.endswith(f"/Calls/{sid}.json") and r.method == "POST"]
    assert updates == [["canceled"], ["completed"]]


async def test_an_ended_call_is_left_as_it_was(env: Env) -> None:
    """A call that already ended answers with its final status and sends no further callback."""
    await script(env, TO, call="busy")
    sid = await _place(env)
    await env.fake.wait_for(lambda f: f.calls[sid].finished)
    before = _statuses(env)
    assert await env.sender.hang_up(sid=sid) == "busy"
    assert _statuses(env) == before and env.fake.calls[sid].hung_up is None


async def test_an_unknown_call_is_a_permanent_error(env: Env) -> None:
    """An unknown sid gets Twilio's 404 JSON error, which the sender reports as permanent."""
    with pytest.raises(PermanentSendError) as info:
        await env.sender.hang_up(sid="CA" + "0" * 32)
    assert info.value.code == "20404"
