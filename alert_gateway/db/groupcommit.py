"""Group commit: small writes that arrive together share one transaction.

Twilio posts several status callbacks per notification, and every send's result must be written.
At 100 alarms a second that is over a thousand tiny transactions a second, each paying a
session, a connection hand-off and a commit. Here each caller still gets its own result only after
the transaction that holds its write committed, but everything queued while one transaction runs
goes into the next. The writes of one transaction share their statements too (db/shared.py): the
same kind of UPDATE asked by many callbacks goes out once, for all their rows.

Idle, a write starts at once, unless its caller says it `can_wait`: a status nobody acts on now
(an SMS sent or delivered, a call ringing or answered by a person). Such a write waits up to
LINGER for company, and the first write that cannot wait (a failure that makes the next step
due, a keypress, a reply, a send's result, which frees a dispatcher slot) starts the transaction
at once for all of them. A send's result waits only while its alarm's other request is still
out (outbox/delivery.py): that one's result follows within milliseconds and cannot wait. At low
rates each callback was otherwise its own transaction (BEGIN, UPDATE, COMMIT), most of what an
alarm's callbacks cost at 10 alarms/s.

If a shared transaction fails, each write in it is run again alone, so one bad write never takes
the others with it. Shared statements lock attempts in id order, as closing an alert does, so a
batch of callbacks and a closing do not deadlock; a keypress that closes an alert inside a batch
still can (it locks the alert's other attempts late), and is run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

from .engine import SessionFactory
from .shared import SharedStatements

log = logging.getLogger(__name__)
T = TypeVar("T")
Work = Callable[[AsyncSession], Awaitable[Any]]
MAX_BATCH = 100  # writes per shared transaction: bounds how long one transaction holds a connection
# How long a write that can wait waits for company when the group commit is idle. At 10 alarms/s
# about 50 such writes a second arrive beside 30 that cannot wait, so ≈ 3 share a transaction
# instead of 1; a status shown on the console appears at most this much later, which no operator
# can tell; nothing that drives an escalation waits. Its timestamps are when the callback came.
LINGER = 0.05
ALONE_TRIES = 3  # a deadlock victim on PostgreSQL (see above) simply runs again


class GroupCommit:
    """`await writes.run(work)`: `work(session)` runs in a transaction shared with its neighbours."""

    def __init__(self, sessions: SessionFactory, *, max_batch: int = MAX_BATCH,
                 linger: float = LINGER) -> None:
        self._sessions = sessions
        self._max_batch = max_batch
        self._linger = linger
        self._pending: list[tuple[Work, asyncio.Future[Any]]] = []
        self._worker: asyncio.Task[None] | None = None
        self._go = asyncio.Event()  # set: the lingering batch starts now
        self.transactions = 0  # for tests and benchmarks: how many commits served the writes

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]], *,
                  can_wait: bool = False) -> T:
        """Run `work` in a shared transaction; returns its result once that transaction committed.

        `can_wait`: nobody needs this write now, so when idle it may wait up to LINGER for others.
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((work, future))
        if not can_wait or len(self._pending) >= self._max_batch:
            self._go.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name="group-commit")
        return await future

    async def _drain(self) -> None:
        # Ends when nothing is queued; `run` starts a new one (no check-then-wait race: single thread).
        if not self._go.is_set():  # only writes that can wait: gather company first
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._linger):
                    await self._go.wait()
        self._go.clear()  # the writes queued during a transaction waited for it: no more lingering
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
        self._go.clear()  # set by a write that no longer waits for anything

    async def _together(self, batch: list[tuple[Work, asyncio.Future[Any]]]) -> None:
        async with self._sessions() as session:
            # A Core statement autoflushes the ORM changes of the writes before it (SQLAlchemy
            # >= 2.0.16), so the mostly Core writes (outbox/forward.py) see each other's rows.
            results = await SharedStatements(session).run([work for work, _ in batch])
            await session.commit()
        self.transactions += 1
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _alone(self, work: Work, future: asyncio.Future[Any]) -> None:
        for tries in range(ALONE_TRIES):
            try:
                async with self._sessions() as session:
                    result = await work(session)
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
