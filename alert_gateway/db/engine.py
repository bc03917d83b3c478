"""Async engine and session factory for SQLite (WAL) or PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

SessionFactory = async_sessionmaker[AsyncSession]


def is_sqlite(url: str) -> bool:
    """True for a SQLite URL."""
    return url.startswith("sqlite")


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Build the engine; SQLite gets WAL and a busy timeout, PostgreSQL a sized pool.

    Statement parameters are residents' names, addresses, notes and message texts: they are
    hidden from SQLAlchemy's error messages and echo, so no log line can carry them.
    """
    if is_sqlite(url):
        _ensure_sqlite_dir(url)
        # One connection, handed out in asyncio FIFO order: SQLite has one write lock per file,
        # and writers on several connections wait for it in SQLite's busy handler, which sleeps
        # up to 100 ms per try while the event loop idles. Queued here, the next writer starts
        # the moment the previous transaction ends. (A single instance per file is the supported
        # mode anyway; PostgreSQL is the one for concurrency.)
        engine = create_async_engine(
            url, echo=echo, hide_parameters=True, pool_size=1, max_overflow=0
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # jit off: short OLTP queries pay JIT compile time for nothing (PEERS.md: goalert's 1.4 s idle cycle)
    return create_async_engine(
        url,
        echo=echo,
        hide_parameters=True,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        connect_args={"server_settings": {"jit": "off"}, "timeout": 10},
    )


def make_sessions(engine: AsyncEngine) -> SessionFactory:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable across process crashes
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _ensure_sqlite_dir(url: str) -> None:
    from pathlib import Path

    path = url.split("///", 1)[-1]
    if path and path != ":memory:" and not path.startswith(":"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
