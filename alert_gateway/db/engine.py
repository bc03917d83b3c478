"""Async engine and session factory for SQLite (WAL) or PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from . import sqlite_inline
from .urgent import UrgentFirstPool

SessionFactory = async_sessionmaker[AsyncSession]
PING_IDLE_SECONDS = 1.0  # a pooled PostgreSQL connection idle longer is pinged before use
STATEMENT_CACHE = 500  # asyncpg prepared statements per connection (IN lists vary in length)
# jit off: short OLTP queries pay JIT compile time for nothing (PEERS.md: goalert's 1.4 s idle
# cycle). Custom plans: each execution of a prepared statement is planned for the tables as they
# are now. PostgreSQL otherwise settles on a generic plan after five runs and keeps it while no
# ANALYZE or VACUUM touches the table: planned on the empty outbox of a fresh start, a status
# callback's lock by id stayed a sequential scan of every attempt, 15-30 ms per callback batch by
# the end of a 10,000-resident sweep (bench/README.md, branch sweeppg). Planning is ~0.1-0.3 ms;
# the storm of 10,000 stores a quarter slower for it, the sweep's alarm p99 is 56 instead of 88 ms.
SERVER_SETTINGS = {"jit": "off", "plan_cache_mode": "force_custom_plan"}


def is_sqlite(url: str) -> bool:
    """True for a SQLite URL."""
    return url.startswith("sqlite")


def make_engine(url: str, *, echo: bool = False,
                ping_idle_seconds: float = PING_IDLE_SECONDS) -> AsyncEngine:
    """Build the engine; SQLite gets WAL and a busy timeout, PostgreSQL a sized pool whose
    connections are pinged before use when idle longer than `ping_idle_seconds`.

    Statement parameters are residents' names, addresses, notes and message texts: they are
    hidden from SQLAlchemy's error messages and echo, so no log line can carry them.
    """
    if is_sqlite(url):
        _ensure_sqlite_dir(url)
        # One connection, handed out in asyncio FIFO order: SQLite has one write lock per file,
        # and writers on several connections wait for it in SQLite's busy handler, which sleeps
        # up to 100 ms per try while the event loop idles. Queued here, the next writer starts
        # the moment the previous transaction ends. (A single instance per file is the supported
        # mode anyway; PostgreSQL is the one for concurrency.) An alarm's store goes first
        # (urgent.py).
        engine = create_async_engine(
            url, echo=echo, hide_parameters=True, pool_size=1, max_overflow=0,
            poolclass=UrgentFirstPool,
        )
        event.listen(engine.sync_engine, "do_connect", _run_inline)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(
        url,
        echo=echo,
        hide_parameters=True,
        pool_size=10,
        max_overflow=10,
        # The most recently used connection first: a quiet gateway keeps reusing one or two
        # connections, whose prepared statements it already has (FIFO prepared each statement
        # on all ten, a round trip each) and which need no ping (below).
        pool_use_lifo=True,
        connect_args={"server_settings": SERVER_SETTINGS, "timeout": 10,
                      "prepared_statement_cache_size": STATEMENT_CACHE},
    )
    _ping_when_idle(engine, ping_idle_seconds)
    return engine


def _ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """SQLAlchemy's `pool_pre_ping`, but only for a connection idle longer than `idle_seconds`.

    The stock pre-ping costs three round trips (BEGIN, ";", ROLLBACK) on every checkout, about a
    fifth of the gateway's round trips to PostgreSQL at 10 alarms/s, and loopback sends are most
    of its CPU. A connection handed back a moment ago is as alive as the one that just used it;
    one that did die meanwhile (a server restart) fails its statement, which SQLAlchemy reports as
    a disconnect: the pool drops all its connections then, and the caller retries as it does for
    a connection lost mid-statement.
    """
    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < idle_seconds:
            return  # just connected, or just used
        try:
            dbapi_conn.ping()
        except Exception as exc:  # the pool replaces it and checks out again
            raise DisconnectionError() from exc


def make_sessions(engine: AsyncEngine) -> SessionFactory:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def autocommit_sessions(sessions: SessionFactory) -> SessionFactory | None:
    """Sessions like `sessions` whose every statement commits itself, on PostgreSQL: no BEGIN
    and COMMIT or ROLLBACK round trips around a statement that is atomic by itself (or reads
    only: under READ COMMITTED each statement reads its own snapshot anyway). None elsewhere:
    a transaction costs SQLite no round trip, and switching its isolation two thread hops.

    Pooled connections, whose isolation the pool resets on return: the writer's held one
    (db/held.py) stays transactional, and would ignore another bind anyway."""
    engine = autocommit_engine(sessions)
    if engine is None:
        return None
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def autocommit_engine(sessions: SessionFactory) -> AsyncEngine | None:
    """`sessions`' engine with every statement committing itself, on PostgreSQL; else None."""
    engine: AsyncEngine | None = sessions.kw.get("bind")
    if engine is None or engine.dialect.name != "postgresql":
        return None
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def _run_inline(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
    cparams["async_creator_fn"] = sqlite_inline.connect  # db/sqlite_inline.py


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable across process crashes
    cursor.execute("PRAGMA foreign_keys=ON")
    # no busy timeout: a statement that meets another process's write lock waits for it off the
    # event loop's thread (db/sqlite_inline.py)
    cursor.close()


def _ensure_sqlite_dir(url: str) -> None:
    from pathlib import Path

    path = url.split("///", 1)[-1]
    if path and path != ":memory:" and not path.startswith(":"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
