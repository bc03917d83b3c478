"""PostgreSQL sessions on one connection that a writer keeps between its transactions.

The hot writers (the ingest writer, the callbacks' group commit, the escalation engine) each run
one transaction after another, about six per alarm between them at 10 alarms/s. Through the pool
each pays a checkout and a return: a one-statement transaction cost 840–920 µs of CPU pooled and
610–750 µs on a kept connection (bench, 2026-12-06). `HeldSessions` keeps one connection per
writer (`KeptConnection`). Rules that keep that safe:

* one transaction at a time: a second caller waits for the first to end (a lock), so two
  transactions never share the connection;
* after any failure (or a cancel) the connection goes back to the pool, which discards it if it
  broke; the next transaction checks out a fresh one, so a server restart costs one failed
  transaction, as through the pool;
* a connection unused for `idle_seconds` is pinged before it serves again, as the pool does
  (db/engine.py), so the first alarm after a quiet night does not fail on a dead connection;
* `aclose()` hands it back before the engine is disposed.

SQLite has one connection for everyone (db/urgent.py): it keeps the shared factory.
`autocommit_connections` gives a writer's one-statement writes (the group commit's lone rounds)
a kept connection in autocommit too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from .engine import PING_IDLE_SECONDS, SessionFactory, autocommit_engine

log = logging.getLogger(__name__)
Connections = Callable[[], AbstractAsyncContextManager[AsyncConnection]]  # `async with c() as conn`


class KeptConnection:
    """One connection a writer keeps, lent to one transaction (or lone statement) at a time."""

    def __init__(self, engine: AsyncEngine, *, idle_seconds: float = PING_IDLE_SECONDS) -> None:
        self._engine = engine
        self._idle_seconds = idle_seconds
        self._conn: AsyncConnection | None = None
        self._last_used = 0.0
        self._turn = asyncio.Lock()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """`async with kept.connection() as conn`: the connection itself, no session."""
        conn = await self.take()
        failure: BaseException | None = None
        try:
            yield conn
        except BaseException as exc:
            failure = exc
            raise
        finally:
            await self.give_back(failure)

    async def take(self) -> AsyncConnection:
        """The connection, once no other transaction of this writer's uses it."""
        await self._turn.acquire()
        try:
            conn = self._conn
            if conn is not None and time.monotonic() - self._last_used > self._idle_seconds:
                try:
                    await conn.run_sync(_ping)
                except Exception:  # dead: the pool replaces it
                    await self._drop(broken=True)
            if self._conn is None:
                self._conn = await self._engine.connect()
            return self._conn
        except BaseException:
            self._turn.release()
            raise

    async def give_back(self, failure: BaseException | None) -> None:
        """The transaction ended; after a failure the connection is not trusted again (cut
        short by a cancel, it may be mid-protocol: it is closed, not returned)."""
        try:
            if failure is not None:
                await self._drop(broken=isinstance(failure, asyncio.CancelledError))
            self._last_used = time.monotonic()
        finally:
            self._turn.release()

    async def aclose(self) -> None:
        """Hand the connection back to the pool (before the engine is disposed)."""
        async with self._turn:
            await self._drop(broken=False)

    async def _drop(self, *, broken: bool) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if broken or conn.invalidated:
                await conn.invalidate()  # the pool opens a new one when asked
            await conn.close()  # back to the pool, rolled back
        except Exception as exc:  # the pool discards a connection it cannot reset
            log.info("held connection handed back uncleanly: %s", exc)


class HeldSessions(SessionFactory):
    """`async with held() as session`: a session on this writer's own connection."""

    def __init__(self, engine: AsyncEngine, *, idle_seconds: float = PING_IDLE_SECONDS) -> None:
        super().__init__(engine, class_=AsyncSession, expire_on_commit=False)
        self.kept = KeptConnection(engine, idle_seconds=idle_seconds)
        self._idle_seconds = idle_seconds
        self._autocommit: KeptConnection | None = None

    def __call__(self, **local_kw: Any) -> AsyncSession:
        return _HeldSession(self.kept, **{**self.kw, **local_kw})

    def autocommit(self) -> KeptConnection:
        """A second connection of this writer's, whose every statement commits itself (closed
        with the first). A one-statement write cost 456 µs of CPU in a pooled session, 380 µs
        in a session on a kept connection, 200 µs on the kept connection itself (2026-12-07)."""
        if self._autocommit is None:
            own = autocommit_engine(self)
            assert own is not None  # a writer keeps its own connection on PostgreSQL only
            self._autocommit = KeptConnection(own, idle_seconds=self._idle_seconds)
        return self._autocommit

    async def aclose(self) -> None:
        """Hand the connections back to the pool (before the engine is disposed)."""
        if self._autocommit is not None:
            await self._autocommit.aclose()
        await self.kept.aclose()


class _HeldSession(AsyncSession):
    """A session bound, for the length of its `async with`, to a kept connection."""

    def __init__(self, kept: KeptConnection, **kw: Any) -> None:
        super().__init__(**kw)
        self._kept = kept

    async def __aenter__(self) -> _HeldSession:
        self.bind = await self._kept.take()
        return self

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        failure: BaseException | None = value
        try:
            await super().__aexit__(type_, value, traceback)  # rolls back what was not committed
        except BaseException as exc:
            failure = failure or exc
            raise
        finally:
            await self._kept.give_back(failure)


def _ping(sync_conn: Connection) -> None:
    sync_conn.connection.dbapi_connection.ping()  # type: ignore[union-attr]


def autocommit_connections(sessions: SessionFactory) -> Connections | None:
    """Connections in autocommit beside `sessions`, for statements that need no session: the
    writer's own kept one when `sessions` keeps one, else the pool's. None on SQLite (one
    connection, transactions cost no round trip there)."""
    if isinstance(sessions, HeldSessions):
        return sessions.autocommit().connection
    engine = autocommit_engine(sessions)
    return None if engine is None else engine.connect
