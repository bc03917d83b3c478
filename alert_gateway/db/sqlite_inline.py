"""SQLite statements run on the event loop's thread; only a wait for another process's lock goes to
aiosqlite's thread.

aiosqlite runs each call on a thread of its own and wakes the event loop with the result, so every
statement of an alarm's transaction waited once more for the loop, behind whatever else was ready
(at 100 alarms/s, each of ≈ 5 statements waited behind a loop turn of webhooks and sends: p99 alarm
→ first call 135-277 ms; run here, 14-22 ms; bench/README.md, eighth round). A statement on a local
SQLite file takes microseconds to a few milliseconds, less than that wait. What SQLite cannot do at
once is take the write lock while another process (an admin command) holds it: the connection's
busy timeout is 0 here, so such a statement fails at once with SQLITE_BUSY, having done nothing,
and runs again on aiosqlite's thread, where it waits up to `LOCK_WAIT_MS` while the loop goes on.
(A transaction no longer lets the loop turn between its statements: see `ingest/pipeline.py`,
`READER_TURNS`; background work lets it turn before each transaction: `urgent.py`.)

The cursor executes and fetches every row in one call and closes its sqlite3 cursor; the rows are
then handed out from memory (`description`, `rowcount` and `lastrowid` stay readable on a closed
sqlite3 cursor). Commit and rollback do nothing when no transaction is open (sqlite3 does nothing
then either): the pool's rollback of every connection handed back, a read-only transaction's
commit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import aiosqlite
from aiosqlite.context import contextmanager

LOCK_WAIT_MS = 5000  # how long a statement waits, on the thread, for another process's write lock


class InlineCursor(aiosqlite.Cursor):
    """A cursor whose sqlite3 cursor is made, used and closed by each statement."""

    def __init__(self, conn: InlineConnection) -> None:
        super().__init__(conn, None)  # type: ignore[arg-type]  # made by execute
        self._rows: list[Any] = []
        self._next = 0  # rows before it were handed out: reading one moves no others

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> InlineCursor:
        """Execute and fetch every row."""
        self._cursor, self._rows = await self._execute(
            _run, self._conn._conn, sql, [] if parameters is None else parameters, many=False)
        self._next = 0
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> InlineCursor:
        """Execute for each parameter set."""
        self._cursor, self._rows = await self._execute(
            _run, self._conn._conn, sql, list(parameters), many=True)
        self._next = 0
        return self

    async def fetchone(self) -> Any:
        """The next row, from memory."""
        rows = await self.fetchmany(1)
        return rows[0] if rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        """Up to `size` (the arraysize) rows, from memory."""
        size = self.arraysize if size is None else size
        rows = self._rows[self._next:self._next + size]
        self._next += len(rows)
        return rows

    async def fetchall(self) -> list[Any]:
        """The rows left, from memory."""
        rows = self._rows[self._next:]
        self._rows, self._next = [], 0
        return rows

    async def close(self) -> None:
        """Already closed by its statement; drops the rows left."""
        self._rows, self._next = [], 0


class InlineConnection(aiosqlite.Connection):
    """aiosqlite's connection, its calls run on the caller's thread unless they must wait for a
    lock (module docstring). It connects on aiosqlite's thread, which stays for those waits."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
        # nothing was done (SQLite takes the lock before it writes): wait for it on the thread
        return await super()._execute(_waiting_for_lock, self._conn, partial(fn, *args, **kwargs))

    @contextmanager
    async def cursor(self) -> aiosqlite.Cursor:
        """A cursor; its sqlite3 cursor is made by its first statement."""
        return InlineCursor(self)

    async def commit(self) -> None:
        """Commit the open transaction, if any."""
        if self._conn.in_transaction:
            await super().commit()

    async def rollback(self) -> None:
        """Roll back the open transaction, if any."""
        if self._conn.in_transaction:
            await super().rollback()


def _run(db: sqlite3.Connection, sql: str, parameters: Any, *,
         many: bool) -> tuple[sqlite3.Cursor, list[Any]]:
    cursor = db.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        return cursor, (cursor.fetchall() if cursor.description is not None else [])
    finally:
        cursor.close()


def _waiting_for_lock(db: sqlite3.Connection, call: Callable[[], Any]) -> Any:
    db.execute(f"PRAGMA busy_timeout={LOCK_WAIT_MS}")
    try:
        return call()
    finally:
        db.execute("PRAGMA busy_timeout=0")


def connect(database: str, **kwargs: Any) -> InlineConnection:
    """As `aiosqlite.connect`, run inline (SQLAlchemy's `async_creator_fn`). The sqlite3
    connection is made on aiosqlite's thread and used from the loop's: never from both at once."""
    conn = InlineConnection(partial(sqlite3.connect, database, **(kwargs | {
        "check_same_thread": False, "timeout": 0})), 64)
    conn._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own (dialects/sqlite/aiosqlite.py)
    return conn
