"""SQLite statements on the event loop's thread (db/sqlite_inline.py) behave as aiosqlite's, and a
wait for another process's lock leaves the loop running."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from alert_gateway.db.engine import make_engine
from alert_gateway.db.sqlite_inline import InlineConnection, connect


async def test_rows_counts_and_ids_come_back_through_sqlalchemy(tmp_path: Path) -> None:
    """Selects, RETURNING, rowcount, lastrowid and executemany work as with aiosqlite's cursor."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
            one = await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
            assert one.lastrowid == 1
            many = await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "b"}, {"v": "c"}])
            assert many.rowcount == 2
            back = await conn.execute(text("UPDATE t SET v = v || '!' WHERE id > 1 RETURNING id"))
            assert sorted(back.scalars()) == [2, 3]
            assert (await conn.execute(text("DELETE FROM t WHERE id = 3"))).rowcount == 1
            rows = (await conn.execute(text("SELECT id, v FROM t ORDER BY id"))).all()
            assert [tuple(r) for r in rows] == [(1, "a"), (2, "b!")]
            assert (await conn.execute(text("SELECT v FROM t WHERE id = 1"))).scalar_one() == "a"
    finally:
        await engine.dispose()


async def test_a_failing_statement_leaves_the_connection_usable(tmp_path: Path) -> None:
    """A constraint error is raised as usual; the next transaction runs."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (v TEXT UNIQUE)"))
            await conn.execute(text("INSERT INTO t VALUES ('a')"))
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t VALUES ('a')"))
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES ('b')"))
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 2
    finally:
        await engine.dispose()


async def test_rows_are_handed_out_one_by_one_or_in_chunks(tmp_path: Path) -> None:
    """fetchone / fetchmany / fetchall read the rows the statement fetched, in order."""
    async with connect(str(tmp_path / "db.sqlite")) as db:
        assert isinstance(db, InlineConnection)
        async with db.cursor() as cursor:
            await cursor.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                                 "WHERE i < 5) SELECT i FROM n")
            assert await cursor.fetchone() == (1,)
            assert await cursor.fetchmany(2) == [(2,), (3,)]
            assert await cursor.fetchall() == [(4,), (5,)]
            assert await cursor.fetchone() is None


async def test_commit_keeps_and_rollback_drops_a_transactions_writes(tmp_path: Path) -> None:
    """Commit and rollback still reach SQLite when a transaction is open."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (v TEXT)"))
        async with engine.connect() as conn:
            await conn.execute(text("INSERT INTO t VALUES ('kept')"))
            await conn.commit()
            await conn.execute(text("INSERT INTO t VALUES ('dropped')"))
            await conn.rollback()
            assert (await conn.execute(text("SELECT v FROM t"))).scalars().all() == ["kept"]
    finally:
        await engine.dispose()


async def test_statements_run_on_the_event_loops_thread(tmp_path: Path) -> None:
    """No hop to another thread and back for a statement: its result is there when it returns."""
    async with connect(str(tmp_path / "db.sqlite")) as db:
        await db.create_function("thread_id", 0, threading.get_ident)
        async with db.cursor() as cursor:
            await cursor.execute("SELECT thread_id()")
            assert await cursor.fetchone() == (threading.get_ident(),)


async def test_a_write_waits_for_another_processs_lock_while_the_loop_goes_on(tmp_path: Path) -> None:
    """An admin command holding the write lock: the gateway's write waits for it off the loop
    (a busy wait on the loop's thread would stop every alarm and webhook), then goes through."""
    path = tmp_path / "db.sqlite"
    async with connect(str(path)) as db:
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("CREATE TABLE t (v TEXT)")
        await db.commit()
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # the other process's write transaction
        other.execute("INSERT INTO t VALUES ('theirs')")
        write = asyncio.create_task(db.execute("INSERT INTO t VALUES ('ours')"))
        await asyncio.sleep(0)  # one loop turn: the write met the lock and waits on the thread
        assert not write.done()
        other.execute("COMMIT")  # run by the loop while the write waits
        other.close()
        await write
        await db.commit()
        async with db.execute("SELECT v FROM t ORDER BY rowid") as cursor:
            assert await cursor.fetchall() == [("theirs",), ("ours",)]
        async with db.execute("PRAGMA busy_timeout") as cursor:
            assert await cursor.fetchone() == (0,)  # back to failing at once for the next one
