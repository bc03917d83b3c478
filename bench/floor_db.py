"""The floor's database pieces: one UPDATE in autocommit and one 3-statement transaction, alone
and for 10 rows at once, through SQLAlchemy Core, the sqlmodel AsyncSession and the raw driver.

Minimal code with the stack's defaults (a pool checkout per operation, as a request handler does;
`_held`: one connection kept open instead; SQLite in WAL with synchronous=NORMAL), on two tables
of its own in a fresh database. The raw driver runs on one held connection: the lowest there is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiosqlite
import asyncpg
from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

Op = Callable[[int], Awaitable[Any]]
ROWS = 1000


class FloorAttempt(SQLModel, table=True):
    """An outbox row: what a callback moves forward."""

    id: int | None = Field(default=None, primary_key=True)
    status: str
    sid: str | None = None


class FloorEvent(SQLModel, table=True):
    """A timeline row: what a transaction adds."""

    id: int | None = Field(default=None, primary_key=True)
    attempt_id: int
    status: str


A = FloorAttempt.__table__  # type: ignore[attr-defined]
E = FloorEvent.__table__  # type: ignore[attr-defined]
UPD = update(A).where(A.c.id == bindparam("aid")).values(status=bindparam("st"))
SEL = select(A.c.status, A.c.sid).where(A.c.id == bindparam("aid"))
INS = insert(E)
IDS: Any = bindparam("ids", expanding=True)
UPD10 = update(A).where(A.c.id.in_(IDS)).values(status=bindparam("st"))
SEL10 = select(A.c.id, A.c.status).where(A.c.id.in_(IDS))


def _row(i: int) -> int:
    return i % ROWS + 1


def _ten(i: int) -> list[int]:
    return [(10 * i + k) % ROWS + 1 for k in range(10)]


def _wal(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _engine(url: str, **kw: Any) -> AsyncEngine:
    engine = create_async_engine(url, **kw)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _wal)
    return engine


class DbPieces:
    """Engines and raw connections on one database, and the operations to time on them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.tx = _engine(url)
        self.ac = _engine(url, isolation_level="AUTOCOMMIT")
        self.sessions = async_sessionmaker(self.tx, class_=AsyncSession, expire_on_commit=False)
        self.ac_sessions = async_sessionmaker(self.ac, class_=AsyncSession)
        self.pg: asyncpg.Connection | None = None
        self.lite: aiosqlite.Connection | None = None
        self.held: dict[str, AsyncConnection] = {}

    async def start(self) -> None:
        """Create and fill the tables; open the raw driver's pool or connection."""
        async with self.tx.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all, tables=[A, E])
            await conn.execute(insert(A), [{"status": "queued", "sid": f"CA{i:032d}"}
                                           for i in range(ROWS)])
        if self.url.startswith("sqlite"):
            self.lite = await aiosqlite.connect(self.url.split("///", 1)[1], isolation_level=None)
            await self.lite.execute("PRAGMA synchronous=NORMAL")
        else:
            self.pg = await asyncpg.connect(self.url.replace("+asyncpg", ""))
        self.held = {"ac": await self.ac.connect(), "tx": await self.tx.connect()}

    async def close(self) -> None:
        """Dispose of everything opened."""
        for conn in self.held.values():
            await conn.close()
        if self.pg is not None:
            await self.pg.close()
        if self.lite is not None:
            await self.lite.close()
        await self.tx.dispose()
        await self.ac.dispose()

    def ops(self) -> dict[str, Op]:
        """Name → one operation (argument: its sequence number)."""
        out: dict[str, Op] = {
            "core_update": self.core_update, "core_tx3": self.core_tx3,
            "core_update_held": self.core_update_held, "core_tx3_held": self.core_tx3_held,
            "core_update10": self.core_update10, "core_tx3x10": self.core_tx3x10,
            "session_update": self.session_update, "session_tx3": self.session_tx3,
            "orm_tx3": self.orm_tx3,
        }
        if self.pg is not None:
            out.update(raw_update=self.asyncpg_update, raw_tx3=self.asyncpg_tx3)
        else:
            out.update(raw_update=self.aiosqlite_update, raw_tx3=self.aiosqlite_tx3)
        return out

    async def core_update(self, i: int) -> None:
        async with self.ac.connect() as c:
            await c.execute(UPD, {"aid": _row(i), "st": f"s{i}"})

    async def core_tx3(self, i: int) -> None:
        async with self.tx.begin() as c:
            await _tx3_statements(c, i)

    async def core_update_held(self, i: int) -> None:
        await self.held["ac"].execute(UPD, {"aid": _row(i), "st": f"s{i}"})

    async def core_tx3_held(self, i: int) -> None:
        c = self.held["tx"]
        async with c.begin():
            await _tx3_statements(c, i)

    async def core_update10(self, i: int) -> None:
        async with self.ac.connect() as c:
            await c.execute(UPD10, {"ids": _ten(i), "st": f"s{i}"})

    async def core_tx3x10(self, i: int) -> None:
        async with self.tx.begin() as c:
            (await c.execute(SEL10, {"ids": _ten(i)})).all()
            await c.execute(UPD10, {"ids": _ten(i), "st": f"s{i}"})
            await c.execute(INS, [{"attempt_id": a, "status": "ringing"} for a in _ten(i)])

    async def session_update(self, i: int) -> None:
        async with self.ac_sessions() as s:
            await s.exec(UPD, params={"aid": _row(i), "st": f"s{i}"})  # type: ignore[call-overload]

    async def session_tx3(self, i: int) -> None:
        async with self.sessions() as s:
            (await s.exec(SEL, params={"aid": _row(i)})).one()  # type: ignore[call-overload]
            await s.exec(UPD, params={"aid": _row(i), "st": f"s{i}"})  # type: ignore[call-overload]
            await s.exec(INS, params={"attempt_id": _row(i), "status": "ringing"})  # type: ignore[call-overload]
            await s.commit()

    async def orm_tx3(self, i: int) -> None:
        """The unit-of-work way: load the row, change it, add one; commit flushes both."""
        async with self.sessions() as s:
            row = await s.get(FloorAttempt, _row(i))
            assert row is not None
            row.status = f"s{i}"
            s.add(FloorEvent(attempt_id=_row(i), status="ringing"))
            await s.commit()

    async def asyncpg_update(self, i: int) -> None:
        assert self.pg is not None
        await self.pg.execute("UPDATE floorattempt SET status = $2 WHERE id = $1", _row(i), f"s{i}")

    async def asyncpg_tx3(self, i: int) -> None:
        assert self.pg is not None
        c = self.pg
        async with c.transaction():
            await c.fetchrow("SELECT status, sid FROM floorattempt WHERE id = $1", _row(i))
            await c.execute("UPDATE floorattempt SET status = $2 WHERE id = $1", _row(i), f"s{i}")
            await c.execute("INSERT INTO floorevent (attempt_id, status) VALUES ($1, $2)",
                            _row(i), "ringing")

    async def aiosqlite_update(self, i: int) -> None:
        assert self.lite is not None
        await self.lite.execute("UPDATE floorattempt SET status = ? WHERE id = ?", (f"s{i}", _row(i)))

    async def aiosqlite_tx3(self, i: int) -> None:
        assert self.lite is not None
        db = self.lite
        await db.execute("BEGIN")
        async with db.execute("SELECT status, sid FROM floorattempt WHERE id = ?", (_row(i),)) as cur:
            await cur.fetchone()
        await db.execute("UPDATE floorattempt SET status = ? WHERE id = ?", (f"s{i}", _row(i)))
        await db.execute("INSERT INTO floorevent (attempt_id, status) VALUES (?, ?)",
                         (_row(i), "ringing"))
        await db.execute("COMMIT")


async def _tx3_statements(c: AsyncConnection, i: int) -> None:
    """tx3's three statements (read the attempt, move it, add its event) on `c`."""
    (await c.execute(SEL, {"aid": _row(i)})).one()
    await c.execute(UPD, {"aid": _row(i), "st": f"s{i}"})
    await c.execute(INS, {"attempt_id": _row(i), "status": "ringing"})
