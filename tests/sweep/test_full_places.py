"""With every place taken, a resident's retry that falls due waits for a call to end: the runner
sleeps until then (or until its next look at a call), instead of looking again and again; and a
call Twilio refuses ends there, freeing its place at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select, update

from alert_gateway.bus import AlertBus
from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import SessionFactory, make_engine, make_sessions
from alert_gateway.db.models import NotificationAttempt, SweepEntry
from alert_gateway.ingest.progress import StoredProgress
from alert_gateway.metrics import Metrics
from alert_gateway.settings import Settings
from alert_gateway.sweep import starting
from alert_gateway.sweep.runner import SweepRunner
from tests.escalation.env import escalation_env
from tests.harness import Changes
from tests.statements import statements_sent
from tests.sweep import env as sweep_env
from tests.sweep.env import diagnosis, phone, settled

# read once by every tick (calls._ENDED)
LOOK = f"FROM {SweepEntry.__tablename__} JOIN {NotificationAttempt.__tablename__} "


@pytest_asyncio.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """Residents r-1 and r-2, each with a phone, on a fresh schema."""
    await sweep_env.seed(database_url, 2)
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


def _ticks(seen: list[str]) -> int:
    return sum(LOOK in statement for statement in seen)


async def _row(sessions: SessionFactory, resident_id: str) -> SweepEntry:
    async with sessions() as s:
        return (await s.exec(select(SweepEntry)
                             .where(SweepEntry.resident_id == resident_id))).one()


async def _call_ends_unanswered(sessions: SessionFactory, resident_id: str,
                                now: datetime) -> None:
    """What the call's final status callback leaves: nobody picked up."""
    entry = await _row(sessions, resident_id)
    async with sessions() as s:
        await s.exec(update(NotificationAttempt)  # type: ignore[call-overload]
                     .where(col(NotificationAttempt.id) == entry.attempt_id)
                     .values(status="not_reached", finished_at=now))
        await s.commit()


async def test_a_due_retry_with_every_place_taken_waits_for_a_call_to_end(
        database_url: str, engine: AsyncEngine, clock: FakeClock) -> None:
    """One place: r-1 goes unanswered and r-2's call takes the place; when r-1's retry falls due
    the runner looks once (r-2's result is due too), then sleeps; r-2's call ends, and r-1 is
    called again at once."""
    settings = Settings(database_url=database_url, sweep_concurrent_calls=1)
    sessions = make_sessions(engine)
    async with sessions() as s:
        await starting.start(s, area_prefix=None, message_ja="地震", message_en="quake",
                             actor="test", now=clock.now())
        await s.commit()
    runner = SweepRunner(settings, clock, sessions, AlertBus(), Metrics(), StoredProgress(),
                         on_queued=lambda: None)
    changes, stop = Changes(), asyncio.Event()

    async def asleep() -> bool:  # the runner is the only one waiting on this clock
        return clock.sleepers == 1 and not runner.wake.is_set()

    async def looked_and_asleep(seen: list[str]) -> bool:
        return _ticks(seen) > 0 and await asleep()

    async def state(resident_id: str, wanted: str, tries: int) -> bool:
        row = await _row(sessions, resident_id)
        return (row.state, row.tries) == (wanted, tries)

    running = asyncio.create_task(runner.run(stop))
    try:
        await changes.until(lambda: state("r-1", "calling", 1))
        await _call_ends_unanswered(sessions, "r-1", clock.now())
        runner.poke()  # as the status callback does
        await changes.until(lambda: state("r-2", "calling", 1))
        assert await state("r-1", "waiting", 1)
        await changes.until(asleep)

        with statements_sent(engine) as seen:
            await clock.advance(minutes=settings.sweep_retry_minutes)  # r-1's retry falls due
            try:
                await changes.until(lambda: looked_and_asleep(seen), within=2)
            except TimeoutError:
                raise AssertionError(f"the runner kept looking: {_ticks(seen)} ticks, "
                                     f"{len(seen)} statements") from None
        assert _ticks(seen) == 1, seen  # r-2's result was due: still on the line, look in a minute
        assert await state("r-1", "waiting", 1)

        await _call_ends_unanswered(sessions, "r-2", clock.now())
        runner.poke()
        await changes.until(lambda: state("r-1", "calling", 2))  # the clock has not moved
    finally:
        stop.set()
        await running


async def test_a_call_twilio_refuses_frees_its_place_at_once(
        sqlite_url: str, topic_root: str, clock: FakeClock) -> None:
    """One place: Twilio refuses r-1's call (an invalid number); r-2 is called next, while the
    clock stands still (not at r-1's look, minutes later)."""
    await sweep_env.seed(sqlite_url, 2)
    async with escalation_env(sqlite_url, topic_root, clock, sweep_concurrent_calls=1,
                              send_concurrency=1) as env:
        await env.control(f"/_fake/phones/{phone(2)}", {"press": "1"})
        await env.control("/_fake/fail", {"status": 400, "code": 21211, "count": 1})
        await sweep_env.start(env, {})
        try:
            await env.changes.until(lambda: settled(env, "r-2", "fine"))
        except TimeoutError:
            raise AssertionError(await diagnosis(env)) from None
        [refused] = await env.attempts(to_number=phone(1), channel="voice")
        assert refused.status == "failed" and env.sent(phone(1), "Calls")
