"""Shared statements: the same kind of write asked by many callers in one transaction goes out
as one statement (the group commit's callbacks and send results: one UPDATE for every move).

Each caller's code stays straight-line: `await shared.ask(session, KIND, row)` returns that row's
result. Inside `SharedStatements.run`, the writes run as tasks strictly one at a time (only one
ever touches the session): each runs until it asks (it parks) or ends; when all have, every
kind asked is run once for all its rows, in lock order, and the askers resume one by one, in
the order they were given. Outside it (a write alone, a test) `ask` runs the kind for one row.

Lock order (PostgreSQL): kinds run table by table in `Kind.order` (attempts, escalations, alerts,
responders), and before the first kind on attempts every attempt row asked for is locked in id
order, the order closing an alert takes them (escalation/hooks.lock_for_close): so a batch of
callbacks and an alert's closing cannot deadlock (a reply that closes an alert inside a batch
still can: see db/groupcommit.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

Row = tuple[Any, ...]  # its first field is its key: one result per key


class Statements(Protocol):
    """What a kind's runner asks of where it runs: a session, or for a round of one lone
    statement a bare connection (db/groupcommit.py `OnConnection`)."""

    def get_bind(self) -> Any: ...  # its `.dialect`

    async def exec(self, statement: Any, *, params: Any = ...) -> Any: ...


Runner = Callable[[Statements, list[Row]], Awaitable[dict[Hashable, Any]]]
Locker = Callable[[AsyncSession, list[Hashable]], Awaitable[None]]
_KEY = "shared_statements"
# The tables' lock order: a round runs the kinds of one table after another in this order.
ATTEMPTS, ESCALATIONS, ALERTS, RESPONDERS = 1, 2, 3, 4


@dataclass(frozen=True, eq=False)
class Kind:
    """One statement for many rows: `run(session, rows)` returns the results by key (a key
    missing: not matched). `lock`, when given, locks the keys in order before the first kind
    with that lock runs in a round (when there is more than one key). `locks_in_order`: the
    statement itself takes its rows' locks in key order, so when its keys are all the round's
    keys of that lock, no statement of its own is needed. Kinds run in `order` (the tables' lock
    order first)."""

    name: str
    order: tuple[int, int]
    run: Runner
    lock: Locker | None = None
    locks_in_order: bool = False


async def ask(session: AsyncSession, kind: Kind, row: Row) -> Any:
    """The result of `kind` for `row`, run with the other rows asked in this round."""
    shared: SharedStatements | None = session.info.get(_KEY)
    if shared is None:  # one row: its statement locks it, there is no order to keep
        return (await kind.run(session, [row])).get(row[0])
    return await shared.ask(kind, row)


@dataclass(eq=False)
class _Asked:
    kind: Kind
    row: Row
    future: asyncio.Future[Any]
    task: asyncio.Task[Any]


class SharedStatements:
    """Runs the writes of one transaction so that what they ask of the same kind is one statement."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._asked: list[_Asked] = []
        self._parked: asyncio.Future[None] | None = None
        self.statements = 0  # for tests: how many shared statements ran

    async def run(self, works: Sequence[Callable[[AsyncSession], Awaitable[Any]]]) -> list[Any]:
        """Each work's result, in order; the first exception ends them all and is raised."""
        self._session.info[_KEY] = self
        tasks: list[asyncio.Task[Any]] = []
        try:
            for work in works:
                tasks.append(asyncio.ensure_future(work(self._session)))
                await self._until_parked(tasks[-1])
            while self._asked:
                asked, self._asked = self._asked, []
                results = await self._run_round(asked)
                for one, result in zip(asked, results, strict=True):
                    one.future.set_result(result)
                    await self._until_parked(one.task)
            return [task.result() for task in tasks]
        finally:
            del self._session.info[_KEY]
            unfinished = [task for task in tasks if not task.done()]
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)

    async def ask(self, kind: Kind, row: Row) -> Any:
        """Park the calling write until its round runs."""
        task = asyncio.current_task()
        assert task is not None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._asked.append(_Asked(kind, row, future, task))
        if self._parked is not None and not self._parked.done():
            self._parked.set_result(None)
        return await future

    async def _until_parked(self, task: asyncio.Task[Any]) -> None:
        """Let `task` run until it asks or ends (nothing else can run: the others are parked)."""
        self._parked = asyncio.get_running_loop().create_future()
        await asyncio.wait((task, self._parked), return_when=asyncio.FIRST_COMPLETED)
        if task.done() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]

    async def _run_round(self, asked: list[_Asked]) -> list[Any]:
        """Every kind asked, once, in lock order; a repeated key gets None (as if run after the
        first: forward-only writes then match nothing)."""
        by_kind: dict[Kind, dict[Hashable, Row]] = {}
        for one in asked:
            by_kind.setdefault(one.kind, {}).setdefault(one.row[0], one.row)
        locked: set[Locker] = set()
        results: dict[Kind, dict[Hashable, Any]] = {}
        for kind in sorted(by_kind, key=lambda k: k.order):
            if kind.lock is not None and kind.lock not in locked:
                locked.add(kind.lock)
                keys = {key for k, rows in by_kind.items() if k.lock is kind.lock for key in rows}
                # one row (a callback alone) has no order to keep; a statement that locks its
                # rows in order, run first on all of them, keeps it itself (a round trip less)
                if len(keys) > 1 and not (kind.locks_in_order and keys == by_kind[kind].keys()):
                    await kind.lock(self._session, sorted(keys))  # type: ignore[type-var]
            results[kind] = await kind.run(self._session, list(by_kind[kind].values()))
            self.statements += 1
        out: list[Any] = []
        for one in asked:
            first = by_kind[one.kind].pop(one.row[0], None) is one.row
            out.append(results[one.kind].get(one.row[0]) if first else None)
        return out
