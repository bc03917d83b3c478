"""Stories: a supervisor pauses, resumes and stops a sweep; and a live alarm during a sweep is
sent before the sweep's calls waiting in the outbox."""

from __future__ import annotations

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import Alert, NotificationAttempt
from alert_gateway.sweep.runner import SweepRunner
from alert_gateway.twilio.fake_state import FakeCall
from tests.escalation.env import Env, escalation_env
from tests.harness import device_client
from tests.sweep import env as sweep_env
from tests.sweep.env import KANAZAWA, diagnosis, phone, settled


def _at_gather(env: Env, number: str) -> FakeCall | None:
    """The call to `number` once it waits for a key."""
    return next((c for c in env.fake.calls.values() if c.to == number and c.waiting), None)


def _runner(env: Env) -> SweepRunner:
    return env.gateway.workers.sweep


async def test_pause_holds_new_calls_and_resume_carries_on(sqlite_url: str, topic_root: str,
                                                           clock: FakeClock) -> None:
    """One at a time: paused while the first call is on the line, nobody else is called; resumed,
    everyone is; a finished sweep can no longer be paused."""
    await sweep_env.seed(sqlite_url, 3)
    async with escalation_env(sqlite_url, topic_root, clock, sweep_concurrent_calls=1) as env:
        await env.control(f"/_fake/phones/{phone(1)}", {"press": "wait"})
        for i in (2, 3):
            await env.control(f"/_fake/phones/{phone(i)}", {"press": "1"})
        sweep = await sweep_env.start(env, {})
        call_1 = await env.until_fake(lambda f: _at_gather(env, phone(1)))
        paused = await sweep_env.control(env, sweep["id"], "pause")
        assert paused["state"] == "paused"
        await env.control(f"/_fake/calls/{call_1.sid}/press", {"digits": "1"})
        await env.changes.until(lambda: settled(env, "r-1", "fine"))
        # a look a second later (the gauge is read at most once a second) places nothing
        assert not await _runner(env).tick(await clock.advance(seconds=1))
        assert [len(env.sent(phone(i), "Calls")) for i in (2, 3)] == [0, 0]
        gauge = env.gateway.services.metrics.sweep_residents
        assert [gauge.labels(state=s)._value.get() for s in ("waiting", "calling", "fine")] == [
            2, 0, 1]
        resumed = await sweep_env.control(env, sweep["id"], "resume")
        assert resumed["state"] == "running"
        try:
            await env.changes.until(lambda: settled(env, "r-3", "fine"))
        except TimeoutError:
            raise AssertionError(await diagnosis(env)) from None
        shown = await sweep_env.finished(env, sweep["id"])
        assert shown["counts"]["fine"] == 3, shown
        headers = {"Authorization": f"Bearer {await sweep_env.token(env)}"}
        url = f"{env.settings.public_url}/api/v1/sweeps/{sweep['id']}/pause"
        async with env.http.post(url, headers=headers) as resp:
            assert resp.status == 409, await resp.text()


async def test_stop_leaves_the_rest_uncalled(sqlite_url: str, topic_root: str,
                                             clock: FakeClock) -> None:
    """Stopped during the first call: that call is still read, nobody else is called."""
    await sweep_env.seed(sqlite_url, 3)
    async with escalation_env(sqlite_url, topic_root, clock, sweep_concurrent_calls=1) as env:
        await env.control(f"/_fake/phones/{phone(1)}", {"press": "wait"})
        sweep = await sweep_env.start(env, {"area_prefix": KANAZAWA})
        call_1 = await env.until_fake(lambda f: _at_gather(env, phone(1)))
        stopped = await sweep_env.control(env, sweep["id"], "stop")
        assert stopped["state"] == "stopped"
        await env.control(f"/_fake/calls/{call_1.sid}/press", {"digits": "9"})
        await env.changes.until(lambda: settled(env, "r-1", "help"))
        assert not await _runner(env).tick(clock.now())
        shown = await sweep_env.get(env, sweep["id"])
        assert shown["state"] == "stopped" and shown["counts"]["waiting"] == 2, shown
        assert len(env.fake.creates("Calls")) >= 1
        assert all(c.params["To"] != [phone(i)] for c in env.fake.creates("Calls") for i in (2, 3))


async def _alarm_queued(env: Env) -> NotificationAttempt | None:
    rows = [a for a in await env.attempts() if a.alert_id is not None]
    return rows[0] if rows else None


async def test_a_live_alarm_goes_before_the_sweeps_waiting_calls(
        sqlite_url: str, topic_root: str, clock: FakeClock) -> None:
    """One send at a time and Twilio slow on the sweep's first call: a pendant press meanwhile is
    sent next, before the four sweep calls already waiting."""
    await sweep_env.seed(sqlite_url, 6, outside=(6,))
    async with (escalation_env(sqlite_url, topic_root, clock, send_concurrency=1,
                               sweep_concurrent_calls=5) as env,
                device_client(topic_root, clock=clock) as dev):
        for i in range(1, 7):
            await env.control(f"/_fake/phones/{phone(i)}", {"press": "1"})
        await env.control("/_fake/fail", {"hold": True, "count": 1})  # the sweep's first call
        await sweep_env.start(env, {"area_prefix": KANAZAWA})
        await env.until_fake(lambda f: f.held)
        await dev.alarm("pendant-6", "sos-1")
        await env.changes.until(lambda: _alarm_queued(env))
        await env.control("/_fake/release")  # the slot frees only once the alarm waits for it
        try:
            await env.until_fake(lambda f: len(f.creates("Calls")) >= 3, within=10)
        except TimeoutError:
            raise AssertionError(await diagnosis(env)) from None
        order = [c.params["To"][0] for c in env.fake.creates("Calls")]
        assert order[1] == phone(6), (order, await diagnosis(env))
        [alert] = await env.rows(Alert)
        assert alert.resident_id == "r-6"
