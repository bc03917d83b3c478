"""SQLite statements in one trip to aiosqlite's thread instead of three or four.

aiosqlite runs each call on its connection's own thread and wakes the event loop with the result.
SQLAlchemy's adapter makes a call per step of a statement: make a cursor, execute, fetch the rows,
close the cursor; and the pool rolls back every connection handed back, committed or not. Each
call is a thread switch and a loop wake-up (a 10 alarms/s run makes ≈ 25 statements and ≈ 6
transactions per alarm). Here one call on that thread makes the cursor, executes, fetches every row
and closes the cursor; the rows are then handed out from memory. A cursor is never reused across
statements by SQLAlchemy, and `description`, `rowcount` and `lastrowid` stay readable on a closed
sqlite3 cursor.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from functools import partial
from typing import Any

import aiosqlite
from aiosqlite.context import contextmanager


class OneTripCursor(aiosqlite.Cursor):
    """A cursor whose sqlite3 cursor is made, used and closed in one call on the thread."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        super().__init__(conn, None)  # type: ignore[arg-type]  # made on the thread, by execute
        self._rows: list[Any] = []
        self._next = 0  # rows before it were handed out: reading one moves no others

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> OneTripCursor:
        """Execute and fetch every row, in one trip."""
        self._cursor, self._rows = await self._execute(
            _run, self._conn._conn, sql, [] if parameters is None else parameters, many=False)
        self._next = 0
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> OneTripCursor:
        """Execute for each parameter set, in one trip."""
        self._cursor, self._rows = await self._execute(
            _run, self._conn._conn, sql, parameters, many=True)
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
        """Already closed on the thread; drops the rows left."""
        self._rows, self._next = [], 0


class OneTripConnection(aiosqlite.Connection):
    """aiosqlite's connection whose cursors take one trip per statement, and whose commit and
    rollback take none when no transaction is open (sqlite3 does nothing then either): the
    pool's rollback of every connection handed back, a read-only transaction's commit."""

    @contextmanager
    async def cursor(self) -> aiosqlite.Cursor:
        """A cursor; its sqlite3 cursor is made by its first statement, on the thread."""
        return OneTripCursor(self)

    async def commit(self) -> None:
        """Commit the open transaction, if any."""
        if self._conn.in_transaction:  # read between statements: the thread is idle
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


def connect(database: str, **kwargs: Any) -> OneTripConnection:
    """As `aiosqlite.connect`, with one trip per statement (SQLAlchemy's `async_creator_fn`)."""
    conn = OneTripConnection(partial(sqlite3.connect, database, **kwargs), 64)
    conn._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own (dialects/sqlite/aiosqlite.py)
    return conn
