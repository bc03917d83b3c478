"""Story (issue 15): a supervisor sweeps 1,000 residents after an earthquake; meanwhile two
pendants elsewhere are pressed at the same moment. The alarms are notified first, and the sweep
still settles everyone.

"Notified first", precisely: once an alarm is stored, the only sweep calls that reach Twilio
before the alarm's first request are those already on their way (at most `send_concurrency`
requests are in flight); none of the sweep's calls waiting in the outbox, or placed later, go
ahead of it. The sweep here keeps ten times as many calls queued as can be in flight, so an
alarm queued behind them would show.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import is_sqlite
from alert_gateway.db.models import Alert, NotificationAttempt, Sweep
from alert_gateway.ingest.batch import BatchResult
from alert_gateway.twilio.fake_state import FakeTwilio
from tests.escalation.env import Env, escalation_env
from tests.harness import device_client
from tests.sweep import crowd
from tests.sweep import env as sweep_env
from tests.sweep.env import diagnosis

# 1,000 on PostgreSQL; 300 on SQLite, whose one connection makes each resident cost more and
# whose run would otherwise double the story's time (about 16 s of CPU for 1,000 either way)
SWEPT = {"postgresql": 1000, "sqlite": 300}
IN_FLIGHT = 4  # send_concurrency
QUEUED = 40  # sweep_concurrent_calls: ten times the requests that can be in flight


class StoredAt:
    """When each alarm's alert was committed (a batch listener runs right after the commit)."""

    def __init__(self) -> None:
        self.at: dict[int, float] = {}

    async def on_batch(self, result: BatchResult) -> None:
        """Note the time of every alert the batch opened."""
        for opened in result.opened:
            self.at.setdefault(opened.id, time.perf_counter())


async def _finished(env: Env) -> Sweep | None:
    [sweep] = await env.rows(Sweep)
    return sweep if sweep.state == "finished" else None


def _alarm_firsts(env: Env, attempts: dict[int, NotificationAttempt],
                  alert_ids: list[int]) -> dict[int, int] | None:
    """Each alarm's first request's position in the fake's log, once both arrived."""
    firsts: dict[int, int] = {}
    for position, (_, attempt_id) in enumerate(crowd.creates(env.fake)):
        attempt = attempts.get(attempt_id)
        if attempt is not None and attempt.alert_id in alert_ids:
            firsts.setdefault(attempt.alert_id, position)
    return firsts if len(firsts) == len(alert_ids) else None


async def test_two_alarms_during_a_sweep_of_a_thousand_are_notified_first(
        database_url: str, topic_root: str, clock: FakeClock) -> None:
    """1,000 swept (300 on SQLite) at 40 calls at once and 4 requests in flight; two pendants
    pressed together mid-sweep each reach Twilio with at most the 4 in-flight sweep calls ahead
    of them; the sweep settles 1 % help, 1 % not reached, the rest fine."""
    swept = SWEPT["sqlite" if is_sqlite(database_url) else "postgresql"]
    await crowd.seed(database_url, swept, 2)
    stored = StoredAt()
    async with (escalation_env(database_url, topic_root, clock, send_concurrency=IN_FLIGHT,
                               sweep_concurrent_calls=QUEUED, send_rate_per_second=5000,
                               sweep_call_tries=1) as env,
                device_client(topic_root, clock=clock) as dev):
        env.gateway.services.ingest.batch_listeners.append(stored.on_batch)
        crowd.script(env.fake, swept)
        sweep = await sweep_env.start(env, {"area_prefix": crowd.SWEPT_AREA})
        assert sweep["residents_total"] == swept
        await env.until_fake(lambda f: len(f.creates("Calls")) >= swept // 4, within=60)
        await asyncio.gather(dev.alarm("pendant-a1", "sos-1"), dev.alarm("pendant-a2", "sos-2"))
        try:
            alerts = await env.changes.until(lambda: _two_alarms(env))
            alert_ids = [a.id for a in alerts]
            attempts: dict[int, NotificationAttempt] = {}

            async def both_sent() -> dict[int, int] | None:
                attempts.update({a.id: a for a in await env.attempts()
                                 if a.id not in attempts})
                return _alarm_firsts(env, attempts, alert_ids)

            firsts = await env.changes.until(both_sent)
            await env.changes.until(lambda: _finished(env), within=120)
        except TimeoutError:
            raise AssertionError((await diagnosis(env))[:3000]) from None

        log = crowd.creates(env.fake)
        for alert_id, position in firsts.items():
            ahead = [r for r, attempt_id in log[:position]
                     if r.at > stored.at[alert_id] and attempts[attempt_id].purpose == "sweep"]
            assert len(ahead) <= IN_FLIGHT, (alert_id, len(ahead))
            first, _ = log[position]
            assert first.params["To"][0] in {crowd.alarm_phone(1), crowd.alarm_phone(2)}
        shown = await sweep_env.get(env, sweep["id"])
        planned = Counter(_state_of(crowd.answer_of(i)) for i in range(1, swept + 1))
        assert {k: v for k, v in shown["counts"].items() if v} == planned, shown["counts"]
        swept_calls = [r for r in env.fake.creates("Calls")
                       if r.params["To"][0].startswith("+8176800")]
        assert len(swept_calls) == swept + planned["help"]  # each once; each help called back by its P1


def _state_of(answer: dict[str, str]) -> str:
    return {"1": "fine", "9": "help"}.get(answer.get("press", ""), "not_reached")


async def _two_alarms(env: Env) -> list[Alert] | None:
    alerts = [a for a in await env.rows(Alert) if a.type == "sos"]
    return alerts if len(alerts) == 2 else None


async def test_an_alarm_reaches_twilio_while_it_holds_every_sweep_call(
        database_url: str, topic_root: str, clock: FakeClock) -> None:
    """Twilio holds every request unanswered (4 may be in flight); the sweep's calls take only
    3 of them, so a pendant pressed meanwhile still has its first request made at once."""
    await crowd.seed(database_url, 20, 1)
    # held requests time out (freeing their slots) only long after the alarm is pressed
    async with (escalation_env(database_url, topic_root, clock, send_concurrency=4,
                               sweep_concurrent_calls=10, send_rate_per_second=5000,
                               twilio_timeout_seconds=30) as env,
                device_client(topic_root, clock=clock) as dev):
        await env.control("/_fake/fail", {"hold": True, "count": 1000})
        await sweep_env.start(env, {"area_prefix": crowd.SWEPT_AREA})
        await env.until_fake(lambda f: len(f.held) >= 3)
        await dev.alarm("pendant-a1", "sos-1")
        alarm_numbers = {crowd.alarm_phone(1), "+81905550001"}

        def up_to_the_alarms(fake: FakeTwilio) -> list[str] | None:
            made = [r.params["To"][0] for r, _ in crowd.creates(fake)]
            firsts = [i for i, to in enumerate(made) if to in alarm_numbers]
            return made[:firsts[0]] if firsts else None

        before = await env.until_fake(up_to_the_alarms)
        assert len(before) == 3, "the alarm waited for a sweep call's slot (its request timed out)"


async def test_a_sweep_that_spends_the_account_rate_leaves_an_alarm_its_tokens(
        database_url: str, topic_root: str, clock: FakeClock) -> None:
    """At 10 sends a second with the rate's clock stopped (no token ever comes back), the sweep
    spends 8 of the 10 saved tokens and waits; a pendant pressed then has its first request
    made at once, from the 2 the sweep left for alarms."""
    await crowd.seed(database_url, 20, 1)
    async with (escalation_env(database_url, topic_root, clock, send_rate_per_second=10,
                               sweep_concurrent_calls=10) as env,
                device_client(topic_root, clock=clock) as dev):
        bucket = env.gateway.workers.dispatcher.bucket
        stopped = time.monotonic()
        bucket.monotonic = lambda: stopped
        await sweep_env.start(env, {"area_prefix": crowd.SWEPT_AREA})

        def made(fake: FakeTwilio) -> list[str]:
            return [r.params["To"][0] for r, _ in crowd.creates(fake)]

        await env.until_fake(lambda f: len(made(f)) >= 8)
        await dev.alarm("pendant-a1", "sos-1")
        people = {crowd.alarm_phone(1), "+81905550001"}
        try:
            sent = await env.until_fake(lambda f: made(f) if people & set(made(f)) else None)
        except TimeoutError:
            raise AssertionError(f"requests made: {made(env.fake)}") from None
        assert len([to for to in sent if to not in people]) == 8, sent
