"""TwilioSender with the real SDK against the fake Twilio over loopback."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlencode

import aiohttp
import pytest

from alert_gateway.metrics import Metrics
from alert_gateway.twilio.client import (
    PermanentSendError,
    ProviderResult,
    TransientSendError,
    TwilioSender,
    UnknownOutcomeError,
)
from alert_gateway.twilio.transport import form_body

from .conftest import GATEWAY_NUMBER, Env, make_settings

TO = "+819012345678"
BODY = "【緊急】山田花子さんの見守り端末から通報がありました。対応できる場合は 1 を返信。"


async def control(env: Env, path: str, data: dict[str, object]) -> None:
    """POST to the fake's control API."""
    async with aiohttp.ClientSession() as session:
        async with session.post(env.fake_url + path, json=data) as resp:
            assert resp.status < 300, await resp.text()


async def test_send_sms_is_received_with_fields(env: Env) -> None:
    """An SMS reaches the fake with To, From, Body and StatusCallback, and returns an SM sid."""
    callback = env.hooks_url + "/twilio/sms/status?attempt=12"
    result = await env.sender.send_sms(to=TO, body=BODY, status_callback=callback)
    assert result.sid.startswith("SM") and len(result.sid) == 34
    assert result.status == "queued"
    (request,) = env.fake.api_requests("Messages")
    assert request.params["To"] == [TO]
    assert request.params["From"] == [GATEWAY_NUMBER]
    assert request.params["Body"] == [BODY]
    assert request.params["StatusCallback"] == [callback]
    assert request.at <= time.perf_counter()


async def test_place_call_sends_amd_and_events(env: Env) -> None:
    """A call asks for async AMD and all four progress events, with the ring timeout."""
    result = await env.sender.place_call(
        to=TO, twiml="<Response><Say>x</Say></Response>",
        status_callback=env.hooks_url + "/twilio/voice/status",
        amd_callback=env.hooks_url + "/twilio/voice/amd", ring_timeout=20,
    )
    assert result.sid.startswith("CA") and len(result.sid) == 34
    (request,) = env.fake.api_requests("Calls")
    p = request.params
    assert p["StatusCallbackEvent"] == ["ringing", "answered", "completed"]
    assert (p["MachineDetection"], p["AsyncAmd"], p["Timeout"]) == (["Enable"], ["true"], ["20"])
    assert p["AsyncAmdStatusCallback"] == [env.hooks_url + "/twilio/voice/amd"]


async def test_fetch_status_reads_message_and_call(env: Env) -> None:
    """fetch_status returns the current status of a message and of a call."""
    sms = await env.sender.send_sms(to=TO, body="x", status_callback=env.hooks_url + "/twilio/s/s")
    call = await env.sender.place_call(to=TO, twiml="<Response/>",
                                       status_callback=env.hooks_url + "/twilio/v/s",
                                       amd_callback=env.hooks_url + "/twilio/v/a")
    await env.fake.wait_for(lambda f: f.messages[sms.sid].status == "delivered"
                            and f.calls[call.sid].status == "completed")
    assert await env.sender.fetch_status(sid=sms.sid, voice=False) == "delivered"
    assert await env.sender.fetch_status(sid=call.sid, voice=True) == "completed"


async def test_invalid_number_is_permanent(env: Env) -> None:
    """A 400 with code 21211 becomes PermanentSendError carrying the code, and is counted."""
    with pytest.raises(PermanentSendError) as info:
        await env.sender.send_sms(to="09012345678", body="x", status_callback=env.hooks_url)
    assert info.value.code == "21211"
    labels = {"operation": "send_sms", "kind": "permanent"}
    assert env.metrics.registry.get_sample_value("alert_gateway_twilio_errors_total", labels) == 1


async def test_wrong_token_is_permanent(env: Env) -> None:
    """A wrong auth token gets Twilio's 401/20003, which retrying cannot fix."""
    settings = make_settings(env.fake_url, env.hooks_url, twilio_auth_token="wrong")
    sender = TwilioSender(settings, Metrics())
    await sender.start()
    try:
        with pytest.raises(PermanentSendError) as info:
            await sender.send_sms(to=TO, body="x", status_callback=env.hooks_url)
    finally:
        await sender.close()
    assert info.value.code == "20003"
    assert "wrong" not in str(info.value)


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_server_errors_are_transient(env: Env, status: int) -> None:
    """5xx and 429 that outlast the quick retries become TransientSendError; the next works."""
    await control(env, "/_fake/fail", {"status": status, "count": 4})  # the first and 3 retries
    with pytest.raises(TransientSendError):
        await env.sender.place_call(to=TO, twiml="<Response/>", status_callback=env.hooks_url,
                                    amd_callback=env.hooks_url)
    labels = {"operation": "place_call", "kind": "transient"}
    assert env.metrics.registry.get_sample_value("alert_gateway_twilio_errors_total", labels) == 4
    assert (await env.sender.send_sms(to=TO, body="x", status_callback=env.hooks_url)).sid


async def test_connection_refused_is_transient(env: Env) -> None:
    """Nothing listening on the API port gives TransientSendError, not an aiohttp error."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = make_settings(f"http://127.0.0.1:{port}", env.hooks_url)
    sender = TwilioSender(settings, Metrics())
    await sender.start()
    try:
        with pytest.raises(TransientSendError):
            await sender.send_sms(to=TO, body="x", status_callback=env.hooks_url)
    finally:
        await sender.close()


async def test_slow_server_times_out_within_bound(env: Env) -> None:
    """A fake slower than twilio_timeout_seconds gives TransientSendError at about that bound."""
    settings = make_settings(env.fake_url, env.hooks_url, twilio_timeout_seconds=0.2)
    metrics = Metrics()
    sender = TwilioSender(settings, metrics)
    await sender.start()
    await control(env, "/_fake/fail", {"hold": True, "count": 1})  # never answered
    started = time.perf_counter()
    try:
        with pytest.raises(TransientSendError):
            await sender.send_sms(to=TO, body="x", status_callback=env.hooks_url)
    finally:
        await sender.close()
    assert time.perf_counter() - started < 2.0
    count = metrics.registry.get_sample_value(
        "alert_gateway_twilio_request_seconds_count", {"operation": "send_sms"})
    assert count == 1


async def test_sender_requires_start() -> None:
    """Using the sender before start() is a programming error, reported clearly."""
    sender = TwilioSender(make_settings("http://127.0.0.1:9", "http://x"), Metrics())
    with pytest.raises(RuntimeError, match="start"):
        await sender.send_sms(to=TO, body="x", status_callback="http://x")
    await sender.close()


async def test_a_timed_out_create_answered_later_gives_its_sid(env: Env) -> None:
    """A create that outlives the timeout runs on: its late answer names the message Twilio made."""
    settings = make_settings(env.fake_url, env.hooks_url, twilio_timeout_seconds=0.2,
                             twilio_late_answer_seconds=10)
    sender = TwilioSender(settings, Metrics())
    await sender.start()
    callback = env.hooks_url + "/twilio/sms/status?attempt=7"
    await control(env, "/_fake/fail", {"hold": True, "count": 1})
    try:
        with pytest.raises(UnknownOutcomeError):
            await sender.send_sms(to=TO, body="x", status_callback=callback)
        assert env.fake.messages == {}  # still held when the retry asks
        await control(env, "/_fake/release", {})
        late = await sender.late_answer(status_callback=callback)
        assert isinstance(late, ProviderResult), late
        assert list(env.fake.messages) == [late.sid]
        assert await sender.late_answer(status_callback=callback) is None  # told once
    finally:
        await sender.close()


async def test_a_create_unanswered_past_the_late_limit_is_unknown(env: Env) -> None:
    """Past twilio_late_answer_seconds the request is cut off: its outcome is unknown (None)."""
    settings = make_settings(env.fake_url, env.hooks_url, twilio_timeout_seconds=0.2,
                             twilio_late_answer_seconds=0.4)
    sender = TwilioSender(settings, Metrics())
    await sender.start()
    callback = env.hooks_url + "/twilio/sms/status?attempt=8"
    await control(env, "/_fake/fail", {"hold": True, "count": 1})  # never answered
    try:
        with pytest.raises(UnknownOutcomeError):
            await sender.send_sms(to=TO, body="x", status_callback=callback)
        assert await sender.late_answer(status_callback=callback) is None
    finally:
        await sender.close()


async def test_twiml_with_japanese_and_reserved_characters_arrives_intact(env: Env) -> None:
    """TwiML holding Japanese, spaces, `&`, `=`, `+` and `%` reaches Twilio exactly as written."""
    twiml = ('<Response><Say language="ja-JP">山田 花子さん 100% & a=b+c ～</Say>'
             '<Redirect>https://gw.example/twilio/voice/next?attempt=1&amp;x=%2F</Redirect></Response>')
    await env.sender.place_call(to=TO, twiml=twiml,
                                status_callback=env.hooks_url + "/twilio/voice/status?a=1&b=2",
                                amd_callback=env.hooks_url + "/twilio/voice/amd")
    (request,) = env.fake.api_requests("Calls")
    assert request.params["Twiml"] == [twiml]
    assert request.params["StatusCallback"] == [env.hooks_url + "/twilio/voice/status?a=1&b=2"]


def test_form_body_is_what_urllib_encodes() -> None:
    """The form body is byte for byte urllib's encoding (what aiohttp sent for the SDK before)."""
    every_char = "".join(map(chr, range(0, 0x180))) + "見守り ～😀"
    data: dict[str, object] = {"Twiml": every_char, "StatusCallbackEvent": ["ringing", "answered"],
                               "Timeout": 25, "Raw": every_char.encode()}
    assert form_body(data) == urlencode(data, doseq=True).encode("ascii")
