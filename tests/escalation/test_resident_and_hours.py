"""Stories: the resident's own keypress on the first call, and a technical alarm in the night."""

from __future__ import annotations

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import EscalationState
from tests.harness import device_client

from .env import DAUGHTER, RESIDENT_PHONE, SON, Env, escalation_env, seed


async def _timeline_says(env: Env, text: str) -> bool:
    alert = await env.alert()
    if alert is None or alert.id is None:
        return False
    return any(text in e.message for e in await env.timeline(alert.id))


async def test_a_low_battery_at_three_in_the_morning_waits_for_seven(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """A P3 low battery at 03:00 JST texts nobody until 07:00, then the first family contact only."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev:
        await dev.alarm("pendant-1", "m-1", "low_battery")
        await env.changes.until(lambda: _timeline_says(env, "waits for day hours"))
        await clock.advance(hours=3, minutes=59)  # 06:59
        await env.changes.until(lambda: _timeline_says(env, "waits for day hours"))
        assert env.fake.api_requests() == []

        await clock.advance(minutes=1)  # 07:00 in Japan
        await env.until_fake(lambda f: env.sent(DAUGHTER, "Messages"))
        await env.changes.until(lambda: _timeline_says(env, "step 1: notifying 山田 京子"))
        [sms] = env.sent(DAUGHTER, "Messages")
        assert "電池残量低下" in sms.params["Body"][0] and "急ぎではありません" in sms.params["Body"][0]
        assert env.fake.api_requests("Calls") == [] and env.sent(SON, "Messages") == []
        alert = await env.alert()
        assert alert is not None and alert.severity == "P3"


async def test_the_resident_pressing_1_stops_calls_to_contacts_but_not_the_alert(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """The resident says she is fine: no contact is called, the alert stays on the board as cancelled."""
    await seed(database_url, resident_phone=RESIDENT_PHONE)
    async with escalation_env(database_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control(f"/_fake/phones/{RESIDENT_PHONE}", {"press": "1"})
        await dev.alarm("pendant-1", "m-1", "sos")
        [call] = await env.until_fake(lambda f: [c for c in f.calls.values() if c.finished])
        assert call.to == RESIDENT_PHONE and call.digits == ["1"]
        assert "わかりました" in call.replies[0]
        alert = await env.changes.until(env.alert)
        assert alert is not None and alert.id is not None
        await env.changes.until(lambda: _state(env, alert.id, EscalationState.STOPPED))
        await clock.advance(600)
        await env.changes.until(lambda: _timeline_says(env, "resident pressed 1"))
        assert [r.params["To"][0] for r in env.fake.api_requests()] == [RESIDENT_PHONE]
        alert = await env.alert()
        assert alert is not None and alert.status == "cancelled"  # an operator still closes it


async def _state(env: Env, alert_id: int | None, state: EscalationState) -> bool:
    assert alert_id is not None
    return (await env.escalation(alert_id)).state == state.value


async def test_the_resident_pressing_9_calls_the_family_at_once(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """The resident asks for help: the daughter is called and texted without waiting out 45 s."""
    await seed(database_url, resident_phone=RESIDENT_PHONE)
    async with escalation_env(database_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control(f"/_fake/phones/{RESIDENT_PHONE}", {"press": "9"})
        await dev.alarm("pendant-1", "m-1", "sos")
        await env.until_fake(lambda f: env.sent(DAUGHTER, "Calls") and env.sent(DAUGHTER, "Messages"))
        [call] = [c for c in env.fake.calls.values() if c.to == RESIDENT_PHONE]
        assert call.digits == ["9"] and "すぐに助けを手配します" in call.replies[0]
        assert await _timeline_says(env, "resident pressed 9")
        alert = await env.alert()
        assert alert is not None and alert.status == "open"


async def test_a_resident_who_does_not_answer_is_redialled_then_the_family_is_called(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """No answer from the resident: one re-dial after 60 s, then the daughter is called and texted."""
    await seed(database_url, resident_phone=RESIDENT_PHONE)
    async with escalation_env(database_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control(f"/_fake/phones/{RESIDENT_PHONE}", {"call": "no-answer"})
        await dev.alarm("pendant-1", "m-1", "sos")
        await env.until_fake(lambda f: any(c.finished for c in f.calls.values()))
        await env.changes.until(lambda: _redial_queued(env))
        assert env.sent(DAUGHTER, "Calls") == []
        await clock.advance(60)
        await env.until_fake(lambda f: env.sent(DAUGHTER, "Calls") and env.sent(DAUGHTER, "Messages"))
        assert len(env.sent(RESIDENT_PHONE, "Calls")) == 2
        assert env.sent(RESIDENT_PHONE, "Messages") == []  # a landline is never texted


async def _redial_queued(env: Env) -> bool:
    return any(a.dial_no == 2 for a in await env.attempts(to_number=RESIDENT_PHONE))
