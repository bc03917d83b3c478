"""Stories: keypress, console acknowledgement, failed deliveries, resident cancel, bad signatures."""

from __future__ import annotations

from typing import Any

from alert_gateway.alerts import actions
from alert_gateway.bus import ChangeKind
from alert_gateway.clock import FakeClock
from alert_gateway.db.models import AckChannel, Alert, Contact, EscalationState
from alert_gateway.unit_of_work import UnitOfWork, retrying
from devices.contract import Channel
from tests.harness import device_client

from .env import DAUGHTER, SON, Env, escalation_env, seed


async def _state(env: Env, alert_id: int, state: EscalationState) -> bool:
    return (await env.escalation(alert_id)).state == state.value


async def _started(env: Env, dev: Any) -> int:
    await dev.watch_feedback()
    await dev.alarm("pendant-1", "m-1", "sos")
    await env.until_fake(lambda f: env.sent(DAUGHTER, "Calls") and env.sent(DAUGHTER, "Messages"))
    alert = await env.changes.until(env.alert)
    assert alert is not None and alert.id is not None
    return alert.id


async def test_keypress_1_on_the_call_acknowledges(database_url: str, topic_root: str,
                                                   clock: FakeClock) -> None:
    """The daughter presses 1 on the call: acknowledged by voice, the son is never called."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control(f"/_fake/phones/{DAUGHTER}", {"press": "1"})
        alert_id = await _started(env, dev)
        # the digit is recorded before the gateway's answer: wait for the answer itself
        await env.until_fake(lambda f: any(c.digits == ["1"] and c.replies for c in f.calls.values()))
        await env.changes.until(lambda: _state(env, alert_id, EscalationState.WATCHING))
        [call] = env.fake.calls.values()
        assert "ありがとうございます" in call.replies[0]
        states = [(await dev.next_feedback())[1]["state"] for _ in range(3)]
        assert states == ["received", "acknowledged", "help_on_the_way"]
        await clock.advance(300)
        assert env.sent(SON, "Calls") == [] and env.sent(SON, "Messages") == []
        alert = await env.alert()
        assert alert is not None and (alert.ack_channel, alert.acknowledged_by) == ("voice", "contact:1")


async def test_console_acknowledgement_stops_and_tells_the_contacts(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """An operator acknowledges via actions.acknowledge: the daughter hears the centre has it."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control(f"/_fake/phones/{DAUGHTER}", {"call": "no-answer"})
        alert_id = await _started(env, dev)
        services = env.gateway.services

        async def acknowledge(uow: UnitOfWork) -> None:  # as the console's action runs it
            await actions.acknowledge(uow.session, alert_id=alert_id, actor="operator:tanaka",
                                      channel=AckChannel.CONSOLE, now=clock.now())
            uow.changed(alert_id, ChangeKind.ACKNOWLEDGED)

        await retrying(services.sessions, services.bus, acknowledge)
        await env.until_fake(lambda f: any("受信センター" in r.params["Body"][0]
                                              for r in env.sent(DAUGHTER, "Messages")))
        states = [(await dev.next_feedback())[1]["state"] for _ in range(2)]
        assert states == ["received", "acknowledged"]
        await clock.advance(600)
        await env.changes.until(lambda: _state(env, alert_id, EscalationState.WATCHING))
        assert env.sent(SON, "Calls") == []
        assert len(env.sent(DAUGHTER, "Calls")) == 1  # no re-dial once taken


async def test_failed_deliveries_move_on_without_waiting_out_the_step(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """Undelivered SMS and a busy line (re-dialled once) move on before the 90 s step is over."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control(f"/_fake/phones/{DAUGHTER}", {"call": "busy", "sms": "undelivered"})
        await _started(env, dev)
        await env.until_fake(lambda f: all(m.finished for m in f.messages.values())
                                and all(c.finished for c in f.calls.values()))
        await env.changes.until(lambda: _attempt_count(env, 3))  # the re-dial is queued
        await clock.advance(60)  # re-dial: busy again, so the step is spent at 60 s, not 90 s
        await env.until_fake(lambda f: env.sent(SON, "Calls") and env.sent(SON, "Messages"))
        assert len(env.sent(DAUGHTER, "Calls")) == 2 and len(env.sent(DAUGHTER, "Messages")) == 1


async def _attempt_count(env: Env, n: int) -> bool:
    return len(await env.attempts()) >= n


async def test_resident_cancel_stops_and_tells_those_notified(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """A cancel 6 s after the alarm stops escalation; the daughter is told, the son never called."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control(f"/_fake/phones/{DAUGHTER}", {"call": "no-answer"})
        alert_id = await _started(env, dev)
        await clock.advance(6)
        await dev.publish("pendant-1", Channel.CANCEL,
                          {"id": "c-1", "alarm_id": "m-1", "ts": clock.now().isoformat()})
        await env.changes.until(lambda: _state(env, alert_id, EscalationState.STOPPED))
        await env.until_fake(lambda f: any("取り消し" in r.params["Body"][0]
                                              for r in env.sent(DAUGHTER, "Messages")))
        await clock.advance(600)
        assert env.sent(SON, "Calls") == [] and len(env.sent(DAUGHTER, "Calls")) == 1
        alert = await env.alert()
        assert alert is not None and alert.status == "cancelled"  # still on the board


async def test_webhooks_with_bad_or_missing_signatures_are_refused(
    sqlite_url: str, topic_root: str, clock: FakeClock
) -> None:
    """Unsigned or wrongly signed webhooks get 403, are counted, and change nothing."""
    await seed(sqlite_url)
    async with escalation_env(sqlite_url, topic_root, clock) as env:
        url = env.settings.public_url + "/twilio/sms/inbound"
        form = {"From": DAUGHTER, "Body": "STOP", "MessageSid": "SM1"}
        for headers in ({}, {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}):
            async with env.http.post(url, data=form, headers=headers) as resp:
                assert resp.status == 403
        async with env.http.post(env.settings.public_url + "/twilio/voice/gather?attempt=1",
                                 data={"Digits": "1"}) as resp:
            assert resp.status == 403
        [daughter] = await env.rows(Contact, phone=DAUGHTER)
        assert daughter.sms_opt_out is False
        refused = env.gateway.services.metrics.webhooks_refused
        total = sum(s.value for m in refused.collect() for s in m.samples if s.name.endswith("_total"))
        assert total == 3
        # The same STOP, properly signed by the fake, is honoured.
        await env.reply_sms(DAUGHTER, "STOP")
        [daughter] = await env.rows(Contact, phone=DAUGHTER)
        assert daughter.sms_opt_out is True


async def test_the_first_notification_is_timed_once_per_alert(database_url: str, topic_root: str,
                                                              clock: FakeClock) -> None:
    """SMS and call both go out at once; the alert keeps one first-notified time, ops see one observation."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev:
        await _started(env, dev)
        await env.changes.until(lambda: _sends_recorded(env, 2))
        # a later attempt (a re-dial queued meanwhile) may have no send time yet
        sent = [a.sent_at for a in await env.attempts() if a.sent_at is not None]
        [alert] = await env.rows(Alert)
        assert alert.first_notified_at is not None and alert.first_notified_at == min(sent), (
            alert.first_notified_at, sent)
        registry = env.gateway.services.metrics.registry
        assert registry.get_sample_value(
            "alert_gateway_alert_first_notification_seconds_count", {"severity": "P1"}) == 1


async def _sends_recorded(env: Env, n: int) -> bool:
    return len([a for a in await env.attempts() if a.sent_at is not None]) >= n
