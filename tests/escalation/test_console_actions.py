"""Stories of what operators do to an escalating alert, by alerts.actions and by the REST API."""

from __future__ import annotations

from alert_gateway.alerts import actions
from alert_gateway.bus import AlertChange, ChangeKind
from alert_gateway.clock import FakeClock
from alert_gateway.db.models import Contact, EscalationState, Outcome
from tests.harness import DeviceSide, device_client

from .env import DAUGHTER, SON, Env, escalation_env, seed


async def _started(env: Env, dev: DeviceSide) -> int:
    """The daughter is called and texted; she does not answer, so a re-dial in 60 s is queued."""
    await env.control(f"/_fake/phones/{DAUGHTER}", {"call": "no-answer"})
    await dev.watch_feedback()
    await dev.alarm("pendant-1", "m-1", "sos")
    await env.until_fake(lambda f: env.sent(DAUGHTER, "Calls") and env.sent(DAUGHTER, "Messages"))
    alert = await env.changes.until(env.alert)
    assert alert is not None and alert.id is not None
    await env.changes.until(lambda: _redial_queued(env))
    return alert.id


async def _redial_queued(env: Env) -> bool:
    return any(a.dial_no == 2 for a in await env.attempts())


async def _escalation_in(env: Env, alert_id: int, state: EscalationState) -> bool:
    return (await env.escalation(alert_id)).state == state.value


async def _kinds(env: Env, alert_id: int) -> list[str]:
    return [e.kind for e in await env.timeline(alert_id)]


async def test_resolve_sends_a_summary_and_tells_the_device(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """Resolving texts the daughter the outcome, publishes `resolved` to the pendant, stops the rest."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev:
        alert_id = await _started(env, dev)
        services = env.gateway.services
        async with services.sessions() as s:
            await actions.resolve(s, alert_id=alert_id, actor="operator:tanaka",
                                  outcome=Outcome.FAMILY_ATTENDED, now=clock.now(), note="娘さん到着")
            await s.commit()
        await services.bus.publish(AlertChange(alert_id, ChangeKind.RESOLVED))

        await env.until_fake(lambda f: len(env.sent(DAUGHTER, "Messages")) == 2)
        summary = env.sent(DAUGHTER, "Messages")[1].params["Body"][0]
        assert "山田 花子" in summary and "対応を終了" in summary and "家族・協力員が対応" in summary
        states = [(await dev.next_feedback())[1]["state"] for _ in range(2)]
        assert states == ["received", "resolved"]
        [resolved] = [e for e in await env.timeline(alert_id) if e.kind == "resolved"]
        assert (resolved.actor, resolved.data["outcome"]) == ("operator:tanaka", "family_attended")

        await clock.advance(600)
        await env.changes.until(lambda: _escalation_in(env, alert_id, EscalationState.STOPPED))
        assert env.sent(SON, "Calls") == [] and env.sent(SON, "Messages") == []
        assert len(env.sent(DAUGHTER, "Calls")) == 1  # the queued re-dial was cancelled


async def test_taking_the_case_is_on_the_timeline_and_escalation_goes_on(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """An operator takes the alert by the API: the timeline names them; contacts are still called."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev:
        alert_id = await _started(env, dev)
        token = await env.api_token("tanaka")
        body = await env.api_post(token, f"/alerts/{alert_id}/take", {})
        assert body["taken_by"] == "api:tanaka"
        [taken] = [e for e in await env.timeline(alert_id) if e.kind == "taken"]
        assert (taken.actor, taken.message) == ("operator:api:tanaka", "taken by api:tanaka")
        await clock.advance(60)  # the daughter's re-dial, not answered either
        await env.until_fake(lambda f: len([c for c in f.calls.values() if c.finished]) == 2)
        await clock.advance(31)  # her 90 s are over
        await env.until_fake(lambda f: env.sent(SON, "Calls") and env.sent(SON, "Messages"))


async def test_a_note_is_written_on_the_timeline(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """A note added by an operator appears on the alert's timeline under their name."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev:
        alert_id = await _started(env, dev)
        async with env.gateway.services.sessions() as s:
            await actions.add_note(s, alert_id=alert_id, actor="operator:tanaka",
                                   text="  隣の方に様子を見てもらう  ", now=clock.now())
            await s.commit()
        [note] = [e for e in await env.timeline(alert_id) if e.kind == "note"]
        assert (note.actor, note.message) == ("operator:tanaka", "隣の方に様子を見てもらう")


async def test_an_arrival_acknowledges_stops_escalation_and_tells_the_device(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """The daughter arrives (recorded by the API): acknowledged, arrived, no more calls, help on the way."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev:
        alert_id = await _started(env, dev)
        [daughter] = await env.rows(Contact, phone=DAUGHTER)
        token = await env.api_token()
        body = await env.api_post(token, f"/alerts/{alert_id}/arrival",
                                  {"contact_id": daughter.id})
        assert body["status"] == "acknowledged"
        kinds = await _kinds(env, alert_id)
        assert kinds.index("acknowledged") < kinds.index("arrived")
        [arrived] = [e for e in await env.timeline(alert_id) if e.kind == "arrived"]
        assert arrived.message == "山田 京子 arrived"
        states = [(await dev.next_feedback())[1]["state"] for _ in range(2)]
        assert states == ["received", "help_on_the_way"]
        await clock.advance(600)
        await env.changes.until(lambda: _escalation_in(env, alert_id, EscalationState.WATCHING))
        assert env.sent(SON, "Calls") == [] and len(env.sent(DAUGHTER, "Calls")) == 1


async def test_escalate_now_sends_the_next_step_at_once(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """"Escalate now" by the API calls and texts the son without waiting out the daughter's 90 s."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev:
        alert_id = await _started(env, dev)
        token = await env.api_token()
        await env.api_post(token, f"/alerts/{alert_id}/escalate", {})
        await env.until_fake(lambda f: env.sent(SON, "Calls") and env.sent(SON, "Messages"))
        assert len(env.sent(DAUGHTER, "Calls")) == 1  # her queued re-dial is dropped
        messages = [e.message for e in await env.timeline(alert_id)]
        assert "api:tester asked for the next step now" in messages
        assert any("notifying 山田 一郎" in m for m in messages)


async def test_an_acknowledged_alert_left_open_reminds_the_console_every_30_minutes(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """30 min after the daughter's "1" with no resolve, the timeline and the console get a reminder."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock,
                              ack_resolve_reminder_minutes=30) as env, \
            device_client(topic_root, clock=clock) as dev:
        alert_id = await _started(env, dev)
        heard: list[AlertChange] = []

        async def listen(change: AlertChange) -> None:
            heard.append(change)

        env.gateway.services.bus.subscribe(listen)
        await env.reply_sms(DAUGHTER, "1")
        await env.changes.until(lambda: _escalation_in(env, alert_id, EscalationState.WATCHING))
        await clock.advance(minutes=29)
        await env.changes.until(lambda: _next_due_later(env, alert_id))
        assert "reminder" not in await _kinds(env, alert_id)

        await clock.advance(minutes=1)
        await env.changes.until(lambda: _reminders(env, alert_id, 1))
        [reminder] = [e for e in await env.timeline(alert_id) if e.kind == "reminder"]
        assert reminder.message.startswith("acknowledged 30 min ago and still not resolved")
        assert await env.gateway.services.bus.drain(5)  # the reminder's notice is on its way
        assert AlertChange(alert_id, ChangeKind.REMINDER) in heard
        await clock.advance(minutes=30)
        await env.changes.until(lambda: _reminders(env, alert_id, 2))


async def _next_due_later(env: Env, alert_id: int) -> bool:
    due = (await env.escalation(alert_id)).next_due_at
    return due is not None and due.replace(tzinfo=env.clock.now().tzinfo) > env.clock.now()


async def _reminders(env: Env, alert_id: int, n: int) -> bool:
    return (await _kinds(env, alert_id)).count("reminder") == n
