"""A gateway SIGKILLed while it works through a queue of sends repeats at most `send_concurrency`."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

import aiohttp
from sqlalchemy import func
from sqlmodel import col, select

from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.migrate import upgrade
from alert_gateway.db.models import AlertEvent, NotificationAttempt
from alert_gateway.twilio.fake_state import FakeTwilio
from tests.harness import WAIT_SECONDS, device_client
from tests.processes import gateway_process

from .env import seed
from .test_sigkill import _fake_and_env

ALERTS = 6
CONCURRENCY = 2


def _texts(fake: FakeTwilio) -> Counter[str]:
    return Counter(r.params["To"][0] for r in fake.creates("Messages"))


async def _all_done(url: str, n: int) -> None:
    """Wait (bounded) until `n` escalations have ended and no attempt waits or is being sent."""
    engine = make_engine(url)
    try:
        async with asyncio.timeout(WAIT_SECONDS * 2):
            while True:
                async with make_sessions(engine)() as s:
                    ended = (await s.exec(select(func.count()).select_from(AlertEvent)
                                          .where(AlertEvent.kind == "exhausted"))).one()
                    busy = (await s.exec(select(func.count()).select_from(NotificationAttempt)
                                         .where(col(NotificationAttempt.status)
                                                .in_(["pending", "sending"])))).one()
                if ended >= n and not busy:
                    return
                await asyncio.sleep(0.1)  # another process writes the rows: nothing to await on
    finally:
        await engine.dispose()


async def test_sigkill_during_a_queue_of_sends_repeats_at_most_the_requests_in_flight(
    database_url: str, topic_root: str, tmp_path: Path
) -> None:
    """Six alarms, two requests at a time, killed mid-queue: no more than two texts go out twice."""
    await upgrade(database_url)
    await seed(database_url, n=ALERTS)
    async with _fake_and_env(database_url, topic_root, tmp_path) as (fake, env, fake_url):
        env["ALERT_GATEWAY_SEND_CONCURRENCY"] = str(CONCURRENCY)
        # Every request takes 0.5 s (under the 1 s timeout): a real delay on purpose, the story
        # is a queue worked through over time; a loaded machine only makes the kill come earlier.
        async with aiohttp.ClientSession() as http:
            async with http.post(fake_url + "/_fake/fail", json={"delay": 0.5, "count": 100}) as resp:
                assert resp.status == 200
        async with gateway_process(env) as first, device_client(topic_root) as dev:
            for i in range(1, ALERTS + 1):
                await dev.alarm(f"pendant-{i}", f"m-{i}", "sos")
            await fake.wait_for(lambda f: sum(_texts(f).values()) >= 3, timeout=WAIT_SECONDS)
            first.send_signal(signal.SIGKILL)  # requests are in flight, more wait in the outbox
            await first.wait()
        assert sum(_texts(fake).values()) < 2 * ALERTS  # killed mid-way, not after the end
        async with gateway_process(env):
            await _all_done(database_url, ALERTS)
        texts = _texts(fake)
        assert len(texts) == 2 * ALERTS  # every daughter and every son was texted
        assert sum(texts.values()) - len(texts) <= CONCURRENCY
