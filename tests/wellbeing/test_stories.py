"""Stories: a scheduled wellbeing call answered with 1, with 9, unanswered three times, and a
gateway restart in the middle of a window. The clock starts at 03:00 on a Friday in Japan."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.models import Alert, Resident, WellbeingCall
from tests.escalation.env import CENTRE, DAUGHTER, RESIDENT_PHONE, Env, escalation_env, seed

SCHEDULE = "weekly fri 10:00-11:00"  # 7 h after the clock's start
TOKYO = ZoneInfo("Asia/Tokyo")
TO_WINDOW = timedelta(hours=7, minutes=30)  # the first call is due in the window's first half


async def _seed(url: str, *, language: str = "ja") -> None:
    await seed(url, resident_phone=RESIDENT_PHONE)
    engine = make_engine(url)
    async with make_sessions(engine)() as s:
        resident = await s.get(Resident, "r-1")
        assert resident is not None
        resident.wellbeing_schedule, resident.language = SCHEDULE, language
        await s.commit()
    await engine.dispose()


async def _window(env: Env) -> WellbeingCall | None:
    rows = await env.rows(WellbeingCall, resident_id="r-1")
    return rows[0] if rows else None


async def _settled(env: Env, state: str) -> WellbeingCall | None:
    call = await _window(env)
    return call if call is not None and call.state == state else None


async def _diagnosis(env: Env, alert_id: int | None) -> str:
    """What the gateway sent and did, for a failing story."""
    attempts = [(a.id, a.purpose, a.target, a.to_number, a.channel, a.status, a.error)
                for a in await env.attempts()]
    timeline = [(e.kind, e.message) for e in await env.timeline(alert_id or 0)]
    return f"attempts: {attempts}\ntimeline: {timeline}"


async def _calls_finished(env: Env, n: int) -> bool:
    calls = env.sent(RESIDENT_PHONE, "Calls")
    return len(calls) == n and all(c.finished for c in env.fake.calls.values()
                                   if c.to == RESIDENT_PHONE)


async def test_pressing_1_records_the_resident_as_fine(sqlite_url: str, topic_root: str,
                                                       clock: FakeClock) -> None:
    """Set through the API, the window is planned at once; the call comes in it in Japanese;
    1 is recorded as fine and nobody else is told."""
    await seed(sqlite_url, resident_phone=RESIDENT_PHONE)
    async with escalation_env(sqlite_url, topic_root, clock) as env:
        await env.control(f"/_fake/phones/{RESIDENT_PHONE}", {"press": "1"})
        headers = {"Authorization": f"Bearer {await env.api_token()}"}
        url = f"{env.settings.public_url}/api/v1/residents/r-1/wellbeing"
        async with env.http.put(url, json={"schedule": SCHEDULE}, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
        assert await env.changes.until(lambda: _window(env))  # the clock has not moved
        await clock.advance(TO_WINDOW.total_seconds())
        call = await env.changes.until(lambda: _settled(env, "fine"))
        [fake_call] = [c for c in env.fake.calls.values() if c.to == RESIDENT_PHONE]
        assert "お元気ですか。お元気なら1を、お困りのことがあれば9を押してください。" in fake_call.spoken[0]
        assert f"{call.window_start.astimezone(TOKYO):%a %H:%M}" == "Fri 10:00"
        assert call.tries == 1 and call.alert_id is None
        await clock.advance(3600)
        assert await env.rows(Alert) == [] and env.sent(DAUGHTER, "Calls") == []
        metrics = env.gateway.services.metrics
        assert metrics.wellbeing_calls.labels(result="fine")._value.get() == 1


async def test_pressing_9_opens_a_p2_alert_for_the_dispatch_centre(
        sqlite_url: str, topic_root: str, clock: FakeClock) -> None:
    """An English resident hears English; 9 opens a P2 alert at once and the centre is phoned."""
    await _seed(sqlite_url, language="en")
    async with escalation_env(sqlite_url, topic_root, clock) as env:
        await env.control(f"/_fake/phones/{RESIDENT_PHONE}", {"press": "9"})
        assert await env.changes.until(lambda: _window(env))
        await clock.advance(TO_WINDOW.total_seconds())
        call = await env.changes.until(lambda: _settled(env, "help"))
        [fake_call] = [c for c in env.fake.calls.values() if c.to == RESIDENT_PHONE]
        assert "If you need any help, press 9." in fake_call.spoken[0]
        alert = await env.alert()
        assert alert is not None and (alert.type, alert.severity) == ("wellbeing_help", "P2")
        assert call.alert_id == alert.id
        try:
            await env.until_fake(lambda f: env.sent(CENTRE, "Calls"), within=5)
        except TimeoutError:
            raise AssertionError(await _diagnosis(env, alert.id)) from None


async def test_three_unanswered_calls_raise_a_p3_that_reaches_the_first_contact(
        sqlite_url: str, topic_root: str, clock: FakeClock) -> None:
    """No answer: called again 20 and 40 minutes later, then a P3 alert tells the daughter."""
    await _seed(sqlite_url)
    async with escalation_env(sqlite_url, topic_root, clock) as env:
        await env.control(f"/_fake/phones/{RESIDENT_PHONE}", {"call": "no-answer"})
        assert await env.changes.until(lambda: _window(env))
        await clock.advance(TO_WINDOW.total_seconds())
        for tries in (1, 2, 3):
            await env.changes.until(lambda n=tries: _calls_finished(env, n))
            await clock.advance(20 * 60)
        call = await env.changes.until(lambda: _settled(env, "not_reached"))
        assert call.tries == 3
        alert = await env.alert()
        assert alert is not None and (alert.type, alert.severity) == ("wellbeing_unanswered", "P3")
        await env.until_fake(lambda f: env.sent(DAUGHTER, "Messages"))
        assert len(env.sent(RESIDENT_PHONE, "Calls")) == 3


async def test_a_restart_in_the_window_neither_repeats_nor_loses_a_call(
        sqlite_url: str, topic_root: str, clock: FakeClock) -> None:
    """The first call goes unanswered, the gateway restarts; the new one places only the retry."""
    await _seed(sqlite_url)
    async with escalation_env(sqlite_url, topic_root, clock) as env:
        await env.control(f"/_fake/phones/{RESIDENT_PHONE}", {"call": "no-answer"})
        assert await env.changes.until(lambda: _window(env))
        await clock.advance(TO_WINDOW.total_seconds())
        await env.changes.until(lambda: _calls_finished(env, 1))
    async with escalation_env(sqlite_url, topic_root, clock) as env:
        await env.control(f"/_fake/phones/{RESIDENT_PHONE}", {"press": "1"})
        await clock.advance(20 * 60)
        call = await env.changes.until(lambda: _settled(env, "fine"))
        assert call.tries == 2 and len(env.sent(RESIDENT_PHONE, "Calls")) == 1
        assert len(await env.rows(WellbeingCall)) == 1
