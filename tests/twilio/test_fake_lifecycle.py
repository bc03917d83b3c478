"""The fake drives messages and calls like Twilio, with signed callbacks our check accepts."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from alert_gateway.metrics import Metrics
from alert_gateway.twilio.client import TwilioSender
from alert_gateway.twilio.fake_server import fake_of, make_fake_twilio_app
from alert_gateway.twilio.twiml import alert_call_twiml

from .conftest import ACCOUNT_SID, AUTH_TOKEN, GATEWAY_NUMBER, Env, Hooks, make_settings

TO = "+819011112222"


async def script(env: Env, number: str, **behaviour: object) -> None:
    """Script a phone through the control API."""
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{env.fake_url}/_fake/phones/{number}", json=behaviour) as resp:
            assert resp.status == 200, await resp.text()


async def call(env: Env, attempt: int = 7) -> str:
    """Place an alert call whose Gather posts to the stand-in gateway."""
    twiml = alert_call_twiml(
        text="緊急通報です。対応できる場合は 1 を押してください。", language="ja-JP",
        action_url=f"{env.hooks_url}/twilio/voice/gather?attempt={attempt}",
        repeat_text="もう一度お伝えします。", goodbye_text="失礼します。",
    )
    result = await env.sender.place_call(
        to=TO, twiml=twiml,
        status_callback=f"{env.hooks_url}/twilio/voice/status?attempt={attempt}",
        amd_callback=f"{env.hooks_url}/twilio/voice/amd?attempt={attempt}",
    )
    await env.fake.wait_for(lambda f: f.calls[result.sid].finished)
    return result.sid


async def test_sms_status_callbacks_are_signed(env: Env) -> None:
    """queued, sent, delivered arrive in order, signed, with Twilio's fields."""
    result = await env.sender.send_sms(to=TO, body="テスト",
                                       status_callback=env.hooks_url + "/twilio/sms/status?a=1")
    await env.fake.wait_for(lambda f: f.messages[result.sid].finished)
    hooks = env.hooks.at("/twilio/sms/status")
    assert [h.params["MessageStatus"] for h in hooks] == ["queued", "sent", "delivered"]
    assert all(h.signed_ok for h in hooks)
    last = hooks[-1].params
    assert (last["MessageSid"], last["SmsSid"], last["SmsStatus"]) == (
        result.sid, result.sid, "delivered")
    assert (last["AccountSid"], last["From"], last["To"]) == (ACCOUNT_SID, GATEWAY_NUMBER, TO)
    assert last["ApiVersion"] == "2010-04-01"
    assert "ErrorCode" not in last


@pytest.mark.parametrize(("mode", "final", "code"),
                         [("undelivered", "undelivered", "30003"), ("failed", "failed", "30008")])
async def test_sms_failure_carries_error_code(env: Env, mode: str, final: str, code: str) -> None:
    """A phone scripted to fail gets a final callback with that status and an ErrorCode."""
    await script(env, TO, sms=mode)
    result = await env.sender.send_sms(to=TO, body="x", status_callback=env.hooks_url +
                                       "/twilio/sms/status")
    await env.fake.wait_for(lambda f: f.messages[result.sid].finished)
    last = env.hooks.at("/twilio/sms/status")[-1].params
    assert (last["MessageStatus"], last["ErrorCode"]) == (final, code)


async def test_answer_and_press_1_reaches_gather_action(env: Env) -> None:
    """A human presses 1: the Gather action gets Digits=1, signed, and its reply is recorded."""
    await script(env, TO, call="answer", press="1")
    sid = await call(env)
    (gather,) = env.hooks.at("/twilio/voice/gather")
    assert gather.signed_ok and gather.path_qs.endswith("?attempt=7")
    assert (gather.params["Digits"], gather.params["CallSid"]) == ("1", sid)
    assert gather.params["CallStatus"] == "in-progress"
    (amd,) = env.hooks.at("/twilio/voice/amd")
    assert amd.signed_ok and amd.params["AnsweredBy"] == "human"
    fake_call = env.fake.calls[sid]
    assert fake_call.spoken[0].startswith("緊急通報です")
    assert fake_call.digits == ["1"]
    assert "対応ありがとうございます" in fake_call.replies[0]
    assert fake_call.spoken[-1] == "対応ありがとうございます。"


async def test_call_status_callbacks_follow_twilio(env: Env) -> None:
    """The events asked for (ringing, answered, completed; not initiated) with sequence numbers."""
    sid = await call(env)
    hooks = env.hooks.at("/twilio/voice/status")
    assert [h.params["CallStatus"] for h in hooks] == ["ringing", "in-progress", "completed"]
    assert [h.params["SequenceNumber"] for h in hooks] == ["0", "1", "2"]
    assert all(h.signed_ok for h in hooks)
    done = hooks[-1].params
    assert (done["CallSid"], done["Direction"], done["CallbackSource"]) == (
        sid, "outbound-api", "call-progress-events")
    assert int(done["CallDuration"]) >= 1 and done["Timestamp"].endswith("+0000")


async def test_no_key_hears_the_alert_twice(env: Env) -> None:
    """Answered but no key: the repeat is spoken, then goodbye, and no Gather action is posted."""
    sid = await call(env)
    assert env.fake.calls[sid].spoken[1:] == ["もう一度お伝えします。", "失礼します。"]
    assert env.hooks.at("/twilio/voice/gather") == []


async def test_machine_answers(env: Env) -> None:
    """A machine gets AnsweredBy=machine_start and no digits; the call completes."""
    await script(env, TO, call="machine", press="1")
    sid = await call(env)
    (amd,) = env.hooks.at("/twilio/voice/amd")
    assert amd.signed_ok and amd.params["AnsweredBy"] == "machine_start"
    assert env.fake.calls[sid].digits == [] and env.fake.calls[sid].status == "completed"


@pytest.mark.parametrize("mode", ["no-answer", "busy", "failed"])
async def test_unanswered_calls_end_with_their_status(env: Env, mode: str) -> None:
    """no-answer, busy and failed end the call with that CallStatus and no AMD callback."""
    await script(env, TO, call=mode)
    sid = await call(env)
    hooks = env.hooks.at("/twilio/voice/status")
    assert [h.params["CallStatus"] for h in hooks] == ["ringing", mode]
    assert env.fake.calls[sid].status == mode and env.hooks.at("/twilio/voice/amd") == []


async def test_manual_press_on_waiting_call(env: Env) -> None:
    """press=wait holds the call at the Gather until the control API presses a key."""
    await script(env, TO, call="answer", press="wait")
    result = await env.sender.place_call(
        to=TO, twiml=alert_call_twiml(text="a", language="ja-JP", repeat_text="b",
                                      goodbye_text="c",
                                      action_url=env.hooks_url + "/twilio/voice/gather"),
        status_callback=env.hooks_url + "/twilio/voice/status",
        amd_callback=env.hooks_url + "/twilio/voice/amd")
    await env.fake.wait_for(lambda f: f.calls[result.sid].waiting)
    async with aiohttp.ClientSession() as session:
        url = f"{env.fake_url}/_fake/calls/{result.sid}/press"
        async with session.post(url, json={"digits": "2"}) as resp:
            assert resp.status == 202
    await env.fake.wait_for(lambda f: f.calls[result.sid].finished)
    (gather,) = env.hooks.at("/twilio/voice/gather")
    assert gather.params["Digits"] == "2" and gather.signed_ok


async def test_inbound_sms_reply_is_recorded(env: Env) -> None:
    """A phone texting "1" reaches the inbound webhook signed; the TwiML reply is shown to it."""
    await env.sender.send_sms(to=TO, body="alert", status_callback=env.hooks_url + "/twilio/s/s")
    async with aiohttp.ClientSession() as session:
        url = f"{env.fake_url}/_fake/phones/{TO}/sms"
        async with session.post(url, json={"body": "1"}) as resp:
            data = await resp.json()
    (hook,) = env.hooks.at("/twilio/sms/inbound")
    assert hook.signed_ok
    p = hook.params
    assert (p["From"], p["To"], p["Body"]) == (TO, GATEWAY_NUMBER, "1")
    assert (hook.params["NumMedia"], hook.params["NumSegments"]) == ("0", "1")
    assert [r["body"] for r in data["replies"]] == ["了解しました。"]
    assert [r["to"] for r in data["replies"]] == [TO]


async def test_behind_a_proxy_public_url_is_what_counts() -> None:
    """Delivered to an internal address but signed over the public URL: accepted via public_url."""
    hooks = Hooks()
    async with TestServer(hooks.app()) as hook_server:
        public = "https://gw.example.org"
        app = make_fake_twilio_app(auth_token=AUTH_TOKEN, account_sid=ACCOUNT_SID,
                                   webhook_base=public,
                                   deliver_base=str(hook_server.make_url("")))
        async with TestServer(app) as fake_server:
            hooks.settings = make_settings(str(fake_server.make_url("")), public)
            sender = TwilioSender(hooks.settings, Metrics())
            await sender.start()
            try:
                sms = await sender.send_sms(to=TO, body="x",
                                            status_callback=public + "/twilio/sms/status")
                await fake_of(app).wait_for(lambda f: f.messages[sms.sid].finished)
            finally:
                await sender.close()
    assert [h.signed_ok for h in hooks.at("/twilio/sms/status")] == [True, True, True]


async def test_waiting_call_without_press_times_out(env: Env) -> None:
    """press=wait with nobody pressing: each Gather gives up after wait_timeout, no digits."""
    env.fake.wait_timeout = 0.01  # a bound on the fake's wait, so the test ends quickly
    await script(env, TO, call="answer", press="wait")
    sid = await call(env)
    assert env.fake.calls[sid].digits == [] and env.fake.calls[sid].status == "completed"
    assert env.fake.calls[sid].spoken[-1] == "失礼します。"
