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

A write that is one shared statement and nothing else (`one`: most status callbacks and send
results, see responses/statements.py) needs no transaction around it: a round of only such
writes of one kind, which is one statement, runs in autocommit on PostgreSQL (no BEGIN and
COMMIT round trips; the statement is atomic by itself). Any other round runs in one
transaction, as before: one commit, one WAL flush, however many statements.

If a shared transaction fails, each write in it is run again alone, so one bad write never takes
the others with it. Shared statements lock attempts in id order, as closing an alert does, so a
batch of callbacks and a closing do not deadlock; a keypress that closes an alert inside a batch
still can (it locks the alert's other attempts late), and is run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from . import shared
from .engine import SessionFactory
from .held import Connections, autocommit_connections
from .shared import SharedStatements

log = logging.getLogger(__name__)
T = TypeVar("T")
Work = Callable[[AsyncSession], Awaitable[Any]]
Lone = tuple[shared.Kind, shared.Row]  # a write that is this one shared statement, nothing else
_Item = tuple[Work, "asyncio.Future[Any]", Lone | None]
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
        self._pending: list[_Item] = []
        self._worker: asyncio.Task[None] | None = None
        self._go = asyncio.Event()  # set: the lingering batch starts now
        self.transactions = 0  # for tests and benchmarks: how many commits served the writes
        self.autocommitted = 0  # for tests and benchmarks: rounds of lone statements (no BEGIN)
        # PostgreSQL runs a round of lone statements in autocommit; SQLite as any other write
        self._autocommit = autocommit_connections(sessions)

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]], *,
                  can_wait: bool = False) -> T:
        """Run `work` in a shared transaction; returns its result once that transaction committed.

        `can_wait`: nobody needs this write now, so when idle it may wait up to LINGER for others.
        """
        return await self._queued(work, None, can_wait)

    async def one(self, kind: shared.Kind, row: shared.Row, *, can_wait: bool = False) -> Any:
        """`kind`'s result for `row` (db/shared.py), its statement shared with the round's others:
        for a write that is this statement and nothing else, atomic by itself."""
        return await self._queued(lambda session: shared.ask(session, kind, row),
                                  (kind, row) if self._autocommit else None, can_wait)

    async def _queued(self, work: Work, lone: Lone | None, can_wait: bool) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((work, future, lone))
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
                for work, future, _ in batch:
                    await self._alone(work, future)
        self._go.clear()  # set by a write that no longer waits for anything

    async def _together(self, batch: list[_Item]) -> None:
        # One statement: no transaction around it. Several: one commit for all (each commit is
        # a WAL flush the round waits for: at 100 alarms/s autocommit per statement fell behind).
        kinds = {lone[0] if lone else None for _, _, lone in batch}
        if self._autocommit is not None and len(kinds) == 1 and None not in kinds:
            await self._lone_round(self._autocommit, batch)
            return
        async with self._sessions() as session:
            if len(batch) == 1:  # nothing to share: no tasks to interleave
                results = [await batch[0][0](session)]
            else:
                # A Core statement autoflushes the ORM changes of the writes before it (SQLAlchemy
                # >= 2.0.16), so the mostly Core writes (outbox/forward.py) see each other's rows.
                results = await SharedStatements(session).run([work for work, _, _ in batch])
            await session.commit()
        self.transactions += 1
        for (_, future, _), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _lone_round(self, connections: Connections, batch: list[_Item]) -> None:
        """The kind once for all its rows, committing itself, on a bare connection (a session
        around one statement cost 180 µs of CPU); no lock statement (it locks its rows in order
        itself). A key asked twice gets None the second time, as in a shared round
        (db/shared.py): its caller falls back."""
        self.autocommitted += 1
        kind = batch[0][2][0] if batch[0][2] else None
        assert kind is not None
        rows: dict[Hashable, shared.Row] = {}
        for _, _, lone in batch:
            assert lone is not None
            rows.setdefault(lone[1][0], lone[1])
        async with connections() as conn:
            found = await kind.run(OnConnection(conn), list(rows.values()))
            await conn.commit()  # SQLAlchemy's own begun state; in autocommit no round trip
        for _, future, lone in batch:
            assert lone is not None
            first = rows.pop(lone[1][0], None) is lone[1]
            if not future.done():
                future.set_result(found.get(lone[1][0]) if first else None)

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


class OnConnection:
    """A bare connection as the `shared.Statements` a kind's runner runs on."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    def get_bind(self) -> AsyncConnection:
        return self._conn

    async def exec(self, statement: Any, *, params: Any = None) -> Any:
        return await self._conn.execute(statement, params)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
