"""One batch's transaction: its messages stored, their first steps planned, one commit.

An unavailable database (refused, timed out) is retried here with a bounded backoff, the batch
left unacknowledged meanwhile; a data error is returned, for the pipeline to isolate the message
that caused it (pipeline.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from ..clock import Clock
from ..db.engine import SessionFactory
from ..db.urgent import urgent
from ..escalation.intake import FirstSteps, Intake
from ..metrics import Metrics
from ..settings import Settings
from .batch import BatchResult
from .dberrors import describe, is_unavailable
from .parse import Incoming, Rejection
from .store import store_batch

log = logging.getLogger(__name__)


class BatchCommitter:
    """Stores a batch in one transaction; `in_storm` tells whether a storm waits behind it."""

    def __init__(self, settings: Settings, sessions: SessionFactory, clock: Clock,
                 metrics: Metrics, *, in_storm: Callable[[], bool]) -> None:
        self._settings = settings
        self._sessions = sessions
        self._clock = clock
        self._metrics = metrics
        self._in_storm = in_storm
        # plans and claims stored alarms' first sends in the storing transaction (set by the
        # wiring, which builds the engine and the dispatcher after the pipeline)
        self.intake: Intake | None = None

    async def commit_while_unavailable(self, items: Sequence[Incoming | Rejection], *,
                                       plan: bool = True) -> BatchResult | Exception:
        """The committed result, or the data error that refused these rows; an unavailable
        database is retried with a bounded backoff (the broker keeps the unacknowledged messages)."""
        delay = 0.1
        while True:
            try:
                return await self._commit(items, plan=plan)
            except Exception as exc:
                if not is_unavailable(exc):
                    return exc
                log.error("database unavailable, batch kept unacknowledged: %s", describe(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _commit(self, items: Sequence[Incoming | Rejection], *, plan: bool) -> BatchResult:
        started = time.perf_counter()
        now = self._clock.now()
        storm = self._in_storm()
        # Ahead of the background work queued for SQLite's one connection; not in a storm, whose
        # batches would then leave the send results (which free the send slots) one turn in
        # several: there the store and the results take turns, as they did before.
        with urgent(not storm):
            async with self._sessions() as session:
                result = await self.store(session, items, now=now, plan=plan, storm=storm)
                await session.commit()
        if not plan:
            result.first_steps = FirstSteps(next_due_at=now)  # the engine looks at once
        self._metrics.ingest_batch_seconds.observe(time.perf_counter() - started)
        return result

    async def store(self, session: AsyncSession, items: Sequence[Incoming | Rejection], *,
                    now: datetime, plan: bool = True, storm: bool = False) -> BatchResult:
        """Store and (`plan`) plan these messages in the caller's transaction; it commits, or
        rolls back (the warm-up's rehearsal). `storm`: a storm waits behind these."""
        s = self._settings
        return await store_batch(
            session,
            items,
            now=now,
            skew_limit=s.clock_skew_seconds,
            cancel_min_seconds=s.cancel_min_seconds,
            cancel_grace_seconds=s.cancel_grace_seconds,
            intake=self.intake if plan else None,
            storm=storm,
        )
