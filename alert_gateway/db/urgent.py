"""SQLite's one connection goes to an alarm's store before anyone else waiting for it.

The pool hands its one connection out first come, first served: during a sweep an alarm's store
waited behind every transaction queued before it (the sweep runner's, the callbacks' group
commits, the engine's steps, the dispatcher's claims), p50 34 / p90 143 ms at load 8, where the
transaction holding the connection when it asked left only 6 / 68 ms. Here a checkout made
`urgent()` goes next, after the transaction holding the connection, ahead of the queue.

Any other checkout first lets the loop turn once. SQLite's statements run on the loop's thread
(sqlite_inline.py), so nothing else ran while a job of many transactions went on: a city's
wellbeing windows, 10 transactions, held the loop for 257 ms at once; with the turn, 80 ms at
most, and another session waited 28 ms at most.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from greenlet import getcurrent
from sqlalchemy import exc
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util import await_only

_URGENT: ContextVar[bool] = ContextVar("urgent_checkout", default=False)


@contextlib.contextmanager
def urgent(really: bool = True) -> Iterator[None]:
    """Checkouts in this block go before the others waiting, if `really` (SQLAlchemy's
    greenlets carry the context of the task that asked)."""
    token = _URGENT.set(really)
    try:
        yield
    finally:
        _URGENT.reset(token)


class Turns:
    """One holder at a time; urgent waiters go in before the others, each kind in order."""

    def __init__(self) -> None:
        self._busy = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._others: deque[asyncio.Future[None]] = deque()

    def take_now(self) -> bool:
        """Take the turn if nobody holds it."""
        if self._busy:
            return False
        self._busy = True
        return True

    async def take(self, *, urgent: bool) -> None:
        """Until it is this caller's turn."""
        if self.take_now():
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._urgent if urgent else self._others
        waiters.append(turn)
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.give_back()  # handed over as we gave up: pass it on
            else:
                waiters.remove(turn)
            raise

    def give_back(self) -> None:
        """The holder is done: the next waiter's turn, urgent ones first."""
        for waiters in (self._urgent, self._others):
            while waiters:
                turn = waiters.popleft()
                if not turn.done():
                    turn.set_result(None)
                    return
        self._busy = False


class UrgentFirstPool(AsyncAdaptedQueuePool):
    """The SQLite engine's pool (one connection): urgent checkouts are served first."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turns = Turns()
        self._admitted: set[Any] = set()  # greenlets inside the pool's own get (it may recurse)

    def _do_get(self) -> ConnectionPoolEntry:
        me = getcurrent()
        if me in self._admitted:
            return super()._do_get()
        urgent = _URGENT.get()
        if not urgent:
            # what is ready runs first (module docstring), an alarm read meanwhile among it
            await_only(asyncio.sleep(0))
        try:
            if not self._turns.take_now():  # else no task for wait_for: the usual case
                await_only(asyncio.wait_for(self._turns.take(urgent=urgent),
                                            self._timeout))
        except TimeoutError:
            raise exc.TimeoutError(f"no connection within {self._timeout} s",
                                   code="3o7r") from None
        self._admitted.add(me)
        try:
            return super()._do_get()
        except BaseException:
            self._turns.give_back()
            raise
        finally:
            self._admitted.discard(me)

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        try:
            super()._do_return_conn(record)
        finally:
            self._turns.give_back()
