"""The escalation engine: sleeps until the earliest due escalation or a poke, then runs due steps.

Replicas on PostgreSQL claim due rows with `SELECT ... FOR UPDATE SKIP LOCKED`, so no step runs
twice. SQLite has no row locks: a single gateway instance per SQLite database is the supported mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func
from sqlalchemy import select as select_rows
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..bus import AlertBus
from ..clock import Clock
from ..db.engine import SessionFactory, is_sqlite
from ..db.inlists import one_of
from ..db.models import ACTIVE_STATUSES, Alert, AlertStatus, Escalation
from ..metrics import Metrics
from ..settings import Settings
from ..unit_of_work import UnitOfWork, retrying
from .hooks import ESCALATION, OPEN_STATES
from .policy import PolicySet
from .steps import BatchOutcome, Stepper

log = logging.getLogger(__name__)
BATCH = 100  # escalations per transaction
CONTENDED_PAUSE = 0.05  # due rows all locked by another replica: let it finish (real seconds)
ERROR_BACKOFF_MAX = 5.0
GAUGE_EVERY = 1.0  # board gauges are scraped, not read per alarm: refresh at most once a second
# While first sends wait (a storm), a batch of steps runs at most this often (real seconds): if
# the dispatcher never says they went, escalations still move, only slower.
YIELD_AT_MOST = 2.0


def _due_query() -> Select[Any]:
    """A batch of due escalations with, at the batch's snapshot, when the open escalations not
    due yet fall due and how many are due now (more than the batch got: another replica holds
    some). Built once (the tick runs it with `now`): building it per tick, and its cache key,
    cost more than running it."""
    now = bindparam("now", type_=ESCALATION.c.next_due_at.type)
    is_open = one_of(ESCALATION.c.state, OPEN_STATES)
    later = (select_rows(func.min(ESCALATION.c.next_due_at))
             .where(is_open, ESCALATION.c.next_due_at > now).scalar_subquery())
    due = (select_rows(func.count()).select_from(ESCALATION)
           .where(is_open, ESCALATION.c.next_due_at <= now).scalar_subquery())
    return (select_rows(ESCALATION, later.label("later_due"), due.label("due_now"))
            .where(is_open, ESCALATION.c.next_due_at <= now)
            .order_by(ESCALATION.c.severity_rank, ESCALATION.c.next_due_at)
            .limit(BATCH))


_DUE = _due_query()
_DUE_LOCKED = _DUE.with_for_update(skip_locked=True)  # PostgreSQL: replicas split the due rows
_BOARD = (select(Alert.status, Alert.severity, func.count(), func.min(Alert.opened_at))
          .where(one_of(col(Alert.status), ACTIVE_STATUSES)).group_by(Alert.status, Alert.severity))
_EARLIEST = select(func.min(Escalation.next_due_at)).where(one_of(col(Escalation.state), OPEN_STATES))


class EscalationEngine:
    """Runs due escalation steps; `poke()` wakes it (new alert, acknowledgement, callback)."""

    def __init__(self, settings: Settings, clock: Clock, sessions: SessionFactory, bus: AlertBus,
                 metrics: Metrics, policies: PolicySet,
                 on_queued: Callable[[datetime | None], None] = lambda at: None,
                 first_sends_waiting: Callable[[], bool] = lambda: False) -> None:
        self._clock = clock
        self._sessions = sessions
        self._bus = bus
        self._metrics = metrics
        self.stepper = Stepper(settings, policies)
        self.wake = asyncio.Event()
        self.on_queued = on_queued  # tells the dispatcher when the sends it queued are due
        # The dispatcher holds alarms' first sends not started yet, or a storm is being stored:
        # every later step and P3 would only send after them, so its CPU goes to them first.
        self._first_sends_waiting = first_sends_waiting
        self.cycles = 0  # for tests and benchmarks: how often the engine looked
        self._oldest: dict[str, datetime] = {}
        self._asleep = False  # in the wait below, until `_sleeping_until` (None: until poked)
        self._yielding = False  # waiting for the dispatcher's first sends to go out
        self._sleeping_until: datetime | None = None
        self._noted_due: datetime | None = None  # told while awake: the next sleep ends by then
        self._gauges_stale = asyncio.Event()  # the board changed: refresh the gauges soon
        self._lock_rows = not is_sqlite(settings.database_url)
        gauge = metrics.oldest_unacknowledged_seconds
        for severity in ("P1", "P2", "P3", "P4"):
            gauge.labels(severity=severity).set_function(self._age_of(severity))

    def _age_of(self, severity: str) -> Callable[[], float]:
        def age() -> float:
            oldest = self._oldest.get(severity)
            return 0.0 if oldest is None else (self._clock.now() - oldest).total_seconds()
        return age

    def poke(self) -> None:
        """Look at the database now."""
        self.wake.set()

    def first_sends_out(self) -> None:
        """The dispatcher started every first send it held: a batch held back for them may run.
        Only a yielding engine needs waking; any other wake would be a look that finds nothing."""
        if self._yielding:
            self.wake.set()

    def board_changed(self) -> None:
        """An alert opened or changed without a step of ours: refresh the board gauges soon."""
        self._gauges_stale.set()

    def note_due(self, at: datetime | None) -> None:
        """An escalation (planned elsewhere, e.g. by intake) next needs a look at `at`: wake only
        if the engine sleeps past that, or `at` is due now. An awake engine may have read its
        next time already, so its next sleep ends by `at`: woken, it looked at once and found
        nothing (half its looks at 100 alarms/s)."""
        if at is None:
            return
        if self._asleep:
            if self._sleeping_until is None or self._sleeping_until > at:
                self.wake.set()
        elif at <= self._clock.now():
            self.wake.set()
        elif self._noted_due is None or at < self._noted_due:
            self._noted_due = at

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: run what is due, then sleep until the earliest due time or a poke."""
        relay = asyncio.create_task(self._relay(stop))
        gauges = asyncio.create_task(self._gauges(stop))
        delay = 0.1
        try:
            while not stop.is_set():
                self.wake.clear()
                if self._first_sends_waiting():
                    await self._yield_to_first_sends(stop)
                self._noted_due = None  # the tick reads what was committed before it was noted
                try:
                    busy, earliest = await self.tick(self._clock.now())
                    self._gauges_stale.set()
                    delay = 0.1
                    if busy:  # a full batch: more may be due at once
                        continue
                except (SQLAlchemyError, OSError) as exc:
                    log.error("escalation engine: database error, retrying: %s", exc)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
                    delay = min(delay * 2, ERROR_BACKOFF_MAX)
                    continue
                now = self._clock.now()
                noted, self._noted_due = self._noted_due, None
                if noted is not None and noted <= now:
                    continue  # noted during the tick and due by now: look again at once
                if noted is not None and (earliest is None or noted < earliest):
                    earliest = noted
                if earliest is not None and earliest <= now:
                    # Due but claimed by another replica (rows locked): wait for its commit.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), CONTENDED_PAUSE)
                    continue
                self._asleep, self._sleeping_until = True, earliest
                try:
                    await self._clock.wait(earliest, self.wake)
                finally:
                    self._asleep = False
        finally:
            # awaited, not only cancelled: a gauge query cut short must hand its connection back
            # before the engine (and its pool) is disposed
            relay.cancel()
            gauges.cancel()
            await asyncio.gather(relay, gauges, return_exceptions=True)

    async def _yield_to_first_sends(self, stop: asyncio.Event) -> None:
        """Until the dispatcher has started every first send it holds (it pokes), a stop, or
        YIELD_AT_MOST."""
        self._asleep, self._sleeping_until, self._yielding = True, None, True
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(YIELD_AT_MOST):
                    while self._first_sends_waiting() and not stop.is_set():
                        await self.wake.wait()
                        if stop.is_set():
                            break  # the stop's one wake-up stays set: the engine's sleep ends on it
                        self.wake.clear()
        finally:
            self._asleep = self._yielding = False

    async def _gauges(self, stop: asyncio.Event) -> None:
        """Board gauges off the alarm path: at once after a quiet spell, then at most once a second."""
        while not stop.is_set():
            await self._gauges_stale.wait()
            self._gauges_stale.clear()
            try:
                await self._refresh_oldest()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("escalation engine: board gauges not refreshed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), GAUGE_EVERY)

    async def _relay(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.wake.set()

    async def tick(self, now: datetime) -> tuple[bool, datetime | None]:
        """Run one batch of due escalations. Returns whether a full batch was found (more may
        wait) and, when not, the next time any open escalation needs a look: read with the
        batch, or in the same transaction when nothing was due (a transaction of its own cost
        three more round trips per wake). Later changes come with a poke or a noted due time,
        as they would while the engine sleeps."""
        self.cycles += 1
        query = _DUE_LOCKED if self._lock_rows else _DUE

        async def step(uow: UnitOfWork) -> tuple[int, BatchOutcome | None, datetime | None]:
            rows = list((await uow.session.exec(  # type: ignore[call-overload]
                query, params={"now": now})).all())
            if not rows:
                return 0, None, await self._earliest_due(uow.session)
            outcome = await self.stepper.run(uow.session, rows, now=now)
            uow.extend(outcome.changes)
            if len(rows) == BATCH:
                return len(rows), outcome, None
            if rows[0].due_now > len(rows):
                return len(rows), outcome, self._learned(now)
            times = [t for t in (rows[0].later_due, outcome.next_due_at) if t is not None]
            return len(rows), outcome, self._learned(min(map(self._aware, times), default=None))

        found, outcome, earliest = await retrying(self._sessions, self._bus, step)
        if outcome is not None and outcome.queued:
            self.on_queued(outcome.first_send_at)
        return found == BATCH, earliest

    async def _earliest_due(self, session: AsyncSession) -> datetime | None:
        """The next time any open escalation needs a look."""
        earliest = (await session.exec(_EARLIEST)).one()
        return self._learned(None if earliest is None else self._aware(earliest))

    def _aware(self, at: datetime) -> datetime:
        return at if at.tzinfo is not None else at.replace(tzinfo=self._clock.now().tzinfo)  # SQLite

    def _learned(self, earliest: datetime | None) -> datetime | None:
        """The next look's time, learned by a tick; sets the engine-lag gauge."""
        now = self._clock.now()
        lag = 0.0 if earliest is None else max(0.0, (now - earliest).total_seconds())
        self._metrics.engine_lag_seconds.set(lag)
        return earliest

    async def _refresh_oldest(self) -> None:
        """Board gauges from one query: alerts on the board, and the oldest unacknowledged per severity."""
        async with self._sessions() as session:
            rows = (await session.exec(_BOARD)).all()
        tz = self._clock.now().tzinfo
        board = self._metrics.alerts_open
        for status in ACTIVE_STATUSES:
            for severity in ("P1", "P2", "P3", "P4"):
                board.labels(status=status, severity=severity).set(0)
        oldest: dict[str, datetime] = {}
        for status, severity, count, first in rows:
            board.labels(status=status, severity=severity).set(count)
            if status == AlertStatus.OPEN.value and first is not None:
                oldest[severity] = first if first.tzinfo else first.replace(tzinfo=tz)
        self._oldest = oldest
