"""Group commit: small writes that arrive together share one transaction.

Twilio posts several status callbacks per notification, and every send's result must be written.
At 100 alarms a second that is over a thousand tiny transactions a second, each paying a
session, a connection hand-off and a commit. Here each caller still gets its own result only after
the transaction that holds its write committed, but everything queued while one transaction runs
goes into the next. Idle, a write starts at once (no batching delay).

If a shared transaction fails, each write in it is run again alone, so one bad write (or a
deadlock victim) never takes the others with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import bindparam, inspect
from sqlalchemy.exc import DBAPIError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from .engine import SessionFactory

log = logging.getLogger(__name__)
T = TypeVar("T")
Work = Callable[[AsyncSession], Awaitable[Any]]
Preload = tuple[type[Any], Any] | None  # (model, primary key) the write will `session.get`
MAX_BATCH = 100  # writes per shared transaction: bounds how long one transaction holds a connection
ALONE_TRIES = 3  # a deadlock victim on PostgreSQL simply runs again


class GroupCommit:
    """`await writes.run(work)`: `work(session)` runs in a transaction shared with its neighbours."""

    def __init__(self, sessions: SessionFactory, *, lock_rows: bool, max_batch: int = MAX_BATCH) -> None:
        self._sessions = sessions
        self._max_batch = max_batch
        self._pending: list[tuple[Work, Preload, asyncio.Future[Any]]] = []
        # PostgreSQL: preloaded rows are locked, so a write sees the row as it is at commit time.
        self._lock_rows = lock_rows
        self._queries: dict[type[Any], Any] = {}
        self._worker: asyncio.Task[None] | None = None
        self.transactions = 0  # for tests and benchmarks: how many commits served the writes

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]], *, preload: Preload = None) -> T:
        """Run `work` in a shared transaction; returns its result once that transaction committed.

        `preload` names the row `work` starts from: the rows of a whole batch are loaded with one
        SELECT before any write runs, so `session.get` finds them without a round trip each.
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((work, preload, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name="group-commit")
        return await future

    async def _drain(self) -> None:
        # Ends when nothing is queued; `run` starts a new one (no check-then-wait race: single thread).
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            try:
                await self._together(batch)
            except Exception:  # any failure: isolate it by running each write alone
                if len(batch) > 1:
                    log.info("group commit of %d writes failed; running them one by one", len(batch))
                for item in batch:
                    await self._alone(*item)

    async def _together(self, batch: list[tuple[Work, Preload, asyncio.Future[Any]]]) -> None:
        async with self._sessions() as session:
            held = await self._preload(session, [p for _, p, _ in batch if p is not None])
            results = [await work(session) for work, _, _ in batch]
            await session.commit()
        del held
        self.transactions += 1
        for (_, _, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _preload(self, session: AsyncSession, keys: list[tuple[type[Any], Any]]) -> list[Any]:
        """Load the named rows; the caller holds the list (the identity map only keeps weak references)."""
        held: list[Any] = []
        by_model: dict[type[Any], set[Any]] = {}
        for model, key in keys:
            by_model.setdefault(model, set()).add(key)
        for model, ids in by_model.items():
            query = self._queries.get(model)
            if query is None:  # built once per model: the IN list is one expanding parameter
                pk = inspect(model).primary_key[0]
                query = select(model).where(pk.in_(bindparam("ids", expanding=True))).order_by(pk)
                if self._lock_rows:  # in key order: two batches never wait for each other in a cycle
                    query = query.with_for_update()
                self._queries[model] = query
            held.extend((await session.exec(query, params={"ids": sorted(ids)})).all())
        return held

    async def _alone(self, work: Work, preload: Preload, future: asyncio.Future[Any]) -> None:
        for tries in range(ALONE_TRIES):
            try:
                async with self._sessions() as session:
                    held = await self._preload(session, [preload] if preload else [])
                    result = await work(session)
                    del held
                    await session.commit()
                self.transactions += 1
            except DBAPIError as exc:
                if tries < ALONE_TRIES - 1 and "deadlock" in str(exc).lower():
                    continue
                _fail(future, exc)
            except Exception as exc:  # handed to the caller, who sees its own error
                _fail(future, exc)
            else:
                if not future.done():
                    future.set_result(result)
            return


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
