"""While a storm is stored, the dispatcher sends each person's first channel only: every P1's
people are reached once before anyone gets a second channel."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import event

from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.models import Alert, NotificationAttempt
from alert_gateway.escalation.engine import EscalationEngine
from alert_gateway.escalation.policy_file import load_policies
from alert_gateway.outbox import queue
from alert_gateway.outbox.backlog import STORM_BACKLOG, Backlog
from alert_gateway.outbox.ratelimit import TokenBucket
from alert_gateway.outbox.slots import WHILE_STORING, SendSlots
from alert_gateway.outbox.wakeup import WakeUp
from alert_gateway.services import build_services
from alert_gateway.settings import Settings
from tests.conftest import create_schema
from tests.harness import WAIT_SECONDS, Changes, gateway_settings

from .env import DAUGHTER, SON, seed
from .test_batch_steps import NOON, _home
from .test_closing import attempt


async def _alert(url: str, now: datetime, *, notified: bool) -> int:
    engine = make_engine(url)
    async with make_sessions(engine)() as s:
        alert = Alert(resident_id="r-1", device_id="pendant-1", type="sos", severity="P1",
                      opened_at=now, updated_at=now, first_notified_at=now if notified else None)
        s.add(alert)
        await s.commit()
        assert alert.id is not None
        alert_id = alert.id
    await engine.dispose()
    return alert_id


async def test_a_storm_claim_takes_no_second_channel(database_url: str, clock: FakeClock) -> None:
    """Storm claim: a text beside a call in flight, or to an alert already notified, waits; an
    alert nobody was sent to yet is claimed. While a few alarms wait (a steady 100/s), the texts
    go and only the P3's call waits; with nothing waiting every due row is claimed."""
    await seed(database_url)
    now = clock.now()
    calling, notified, unreached, technical = (await _alert(database_url, now, notified=False),
                                               await _alert(database_url, now, notified=True),
                                               await _alert(database_url, now, notified=False),
                                               await _alert(database_url, now, notified=False))
    rows = {
        "call in flight": attempt(calling, now, to=DAUGHTER, channel="voice", status="sending"),
        "text beside it": attempt(calling, now, to=DAUGHTER, channel="sms", status="pending"),
        "text of a notified alert": attempt(notified, now, to=SON, channel="sms", status="pending"),
        "call nobody made yet": attempt(unreached, now, to=SON, channel="voice", status="pending"),
        "a P3's call": attempt(technical, now, to=SON, channel="voice", status="pending"),
    }
    rows["a P3's call"].priority = 3
    engine = make_engine(database_url)
    sessions = make_sessions(engine)
    settings = gateway_settings(database_url, "agtest-storm")

    async def claimed_with(backlog: Backlog) -> list[str]:
        claimed, _, _ = await queue.claim_due(sessions, now=now, limit=10, backlog=backlog,
                                              lock_rows=False, settings=settings)
        return sorted(name_of[a.id] for a in claimed)

    try:
        async with sessions() as s:
            s.add_all(rows.values())
            await s.commit()
            name_of = {row.id: name for name, row in rows.items()}
        assert await claimed_with(Backlog.STORM) == ["call nobody made yet"]
        wake = await queue.next_wake(sessions, now=now, ours=[], backlog=Backlog.STORM,
                                     housekeeping_at=None)
        assert wake is None or wake > now, f"a storm wake at {wake} for rows it will not claim"
        assert await claimed_with(Backlog.ALARMS) == ["text beside it", "text of a notified alert"]
        assert await claimed_with(Backlog.NONE) == ["a P3's call"]
    finally:
        await engine.dispose()


def test_a_storm_is_hundreds_waiting_not_a_steady_flow() -> None:
    """At 100 alarms/s each commit leaves a few behind it: they hold back P3s, not the texts
    beside the calls (a contact's way to answer); a storm's backlog holds back both."""
    assert [Backlog.of(n) for n in (0, 1, 5, STORM_BACKLOG - 1)] == [
        Backlog.NONE, Backlog.ALARMS, Backlog.ALARMS, Backlog.ALARMS]
    assert Backlog.of(STORM_BACKLOG) is Backlog.STORM
    assert Backlog.of(10_000) is Backlog.STORM


def _held(attempt_id: int, alert_id: int, channel: str, priority: int,
          now: datetime) -> NotificationAttempt:
    return NotificationAttempt(id=attempt_id, alert_id=alert_id, target="contact",
                               to_number=DAUGHTER, channel=channel, status="sending",
                               priority=priority, created_at=now, not_before=now)


def test_handed_over_sends_go_each_alerts_first_before_any_second(clock: FakeClock) -> None:
    """Held sends go most urgent first, then each person's first channel before anyone's
    further ones; in a storm the further ones wait."""
    now = clock.now()
    slots = SendSlots(100, None, None, TokenBucket(1000), WakeUp())  # type: ignore[arg-type]
    slots.hold([_held(1, 1, "voice", 1, now), _held(2, 1, "sms", 1, now),
                _held(3, 2, "voice", 3, now), _held(4, 2, "sms", 3, now)])
    assert [a.id for a in slots.take_held(10)] == [1, 2, 3, 4], "most urgent first"
    slots.hold([_held(1, 1, "voice", 1, now), _held(2, 1, "sms", 1, now),
                _held(3, 2, "voice", 3, now), _held(4, 2, "sms", 3, now)])
    slots.hold([_held(5, 3, "voice", 1, now + timedelta(seconds=1)),
                _held(6, 3, "sms", 1, now + timedelta(seconds=1))])
    assert [a.id for a in slots.take_held(2)] == [1, 5], "a P1's call before an older P1's text"
    assert [a.id for a in slots.take_held(10, firsts_only=True)] == [3]
    assert not slots.held(firsts_only=True) and slots.held()
    assert [a.id for a in slots.take_held(10)] == [2, 6, 4]


def test_while_a_storm_is_stored_few_requests_run_beside_it() -> None:
    """Alarms wait to be stored: WHILE_STORING slots only (each request, result and callback
    takes the loop from the storing); the storing done, every slot is free again."""
    slots = SendSlots(256, None, None, TokenBucket(1000), WakeUp())  # type: ignore[arg-type]
    slots.storing = True
    assert (slots.free, slots.background_free) == (WHILE_STORING, WHILE_STORING)
    slots.storing = False
    assert (slots.free, slots.full) == (256, False)
    small = SendSlots(4, None, None, TokenBucket(1000), WakeUp())  # type: ignore[arg-type]
    small.storing = True
    assert small.free == 4, "fewer slots than WHILE_STORING stay as they are"


async def test_an_engine_stopped_while_it_yields_to_first_sends_stops(sqlite_url: str) -> None:
    """Stopped while it waits for the dispatcher's first sends: the engine returns at once. The
    stop's wake-up was taken by the yield, and the engine then slept until its next due time
    (none: until a poke), so a gateway's stop waited out its bound for it."""
    await create_schema(sqlite_url)
    services = build_services(Settings(database_url=sqlite_url), clock=FakeClock(NOON))
    asked = asyncio.Event()

    def waiting() -> bool:  # the engine asks, then waits for a wake-up with no await between
        asked.set()
        return True

    engine = EscalationEngine(services.settings, services.clock, services.sessions, services.bus,
                              services.metrics, load_policies(), first_sends_waiting=waiting)
    stop = asyncio.Event()
    try:
        running = asyncio.create_task(engine.run(stop))
        await asked.wait()  # the engine is in its yield now
        assert engine.cycles == 0, "the engine ran a step while first sends waited"
        stop.set()
        async with asyncio.timeout(WAIT_SECONDS):
            await running
    finally:
        stop.set()
        await services.close()


async def test_the_engine_yields_to_first_sends_that_wait(database_url: str) -> None:
    """While the dispatcher holds alarms' first sends, a due P3 is not planned; once they went
    (the dispatcher pokes the engine), it is."""
    await create_schema(database_url)
    services = build_services(Settings(database_url=database_url), clock=FakeClock(NOON))
    waiting = True
    queued, asked = asyncio.Event(), asyncio.Event()

    def first_sends_waiting() -> bool:  # asked, then the engine waits with no await between
        asked.set()
        return waiting

    engine = EscalationEngine(services.settings, services.clock, services.sessions, services.bus,
                              services.metrics, load_policies(), on_queued=lambda at: queued.set(),
                              first_sends_waiting=first_sends_waiting)
    stop = asyncio.Event()
    try:
        await _home(services, "r1", alerts=1)
        running = asyncio.create_task(engine.run(stop))
        await asked.wait()  # the engine is in its yield now
        assert engine.cycles == 0, "the engine ran a step while first sends waited"
        waiting = False
        engine.poke()
        await asyncio.wait_for(queued.wait(), 10)
        assert engine.cycles >= 1
        stop.set()
        await running
    finally:
        stop.set()
        await services.close()


async def test_a_due_time_told_while_the_engine_looks_ends_its_sleep_without_another_look(
        sqlite_url: str) -> None:
    """Intake tells the engine of a step due in a minute while the engine is in a look: it
    sleeps until then, rather than looking again at once and finding nothing (a third of its
    looks at 100 alarms/s); when the minute has passed, it looks."""
    await create_schema(sqlite_url)
    clock = FakeClock(NOON)
    services = build_services(Settings(database_url=sqlite_url), clock=clock)
    engine = EscalationEngine(services.settings, services.clock, services.sessions, services.bus,
                              services.metrics, load_policies())
    later = clock.now() + timedelta(minutes=1)
    told: list[datetime] = []

    def tell(*_: object) -> None:  # during the look's first statement: a batch's hand-over
        if not told:
            told.append(later)
            engine.note_due(later)

    async def asleep_after(looks: int) -> bool:
        return clock.sleepers == 1 and engine.cycles == looks

    event.listen(services.engine.sync_engine, "before_cursor_execute", tell)
    changes, stop = Changes(), asyncio.Event()
    running = asyncio.create_task(engine.run(stop))
    try:
        await changes.until(lambda: asleep_after(1))
        await clock.advance(59)  # not yet: asleep again with no look (one would be a second)
        await changes.until(lambda: asleep_after(1))
        await clock.advance(1)
        await changes.until(lambda: asleep_after(2))
    finally:
        stop.set()
        await running
        await services.close()
