"""A writer's own PostgreSQL connection (db/held.py): kept, never shared, replaced when it dies."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from alert_gateway.db.engine import make_engine
from alert_gateway.db.held import HeldSessions

PID = text("SELECT pg_backend_pid()")


async def _pid(held: HeldSessions) -> int:
    async with held() as session:
        pid = (await session.exec(PID)).scalar_one()
        await session.commit()
    return int(pid)


async def _terminate(admin: AsyncEngine, pid: int) -> None:
    async with admin.connect() as conn:  # waits (up to 5 s) until that backend has exited
        assert (await conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"),
                                   {"pid": pid})).scalar_one()


async def test_one_writers_transactions_share_one_connection_handed_back_at_close(
        pg_url: str) -> None:
    """Transaction after transaction runs on the same backend; `aclose` returns it to the pool."""
    engine = make_engine(pg_url)
    held = HeldSessions(engine, idle_seconds=3600.0)
    try:
        pids = [await _pid(held) for _ in range(3)]
        assert len(set(pids)) == 1
        assert engine.pool.checkedout() == 1  # type: ignore[attr-defined]
        await held.aclose()
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def test_a_second_transaction_waits_for_the_first_instead_of_sharing(pg_url: str) -> None:
    """Two transactions of one writer at once: the second starts only once the first ended."""
    engine = make_engine(pg_url)
    held = HeldSessions(engine)
    first_in, first_may_end = asyncio.Event(), asyncio.Event()
    order: list[str] = []

    async def first() -> None:
        async with held() as session:
            await session.exec(PID)
            first_in.set()
            await first_may_end.wait()
            order.append("first ends")
            await session.commit()

    async def second() -> None:
        await first_in.wait()
        async with held() as session:
            order.append("second starts")
            await session.exec(PID)
            await session.commit()

    try:
        tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
        await first_in.wait()
        await asyncio.sleep(0)  # the second is now waiting for its turn
        first_may_end.set()
        await asyncio.gather(*tasks)
        assert order == ["first ends", "second starts"]
    finally:
        await held.aclose()
        await engine.dispose()


async def test_a_connection_the_server_ended_while_idle_is_replaced_before_use(
        pg_url: str) -> None:
    """Idle past `idle_seconds`, the kept connection is pinged: a dead one is replaced."""
    engine, admin = make_engine(pg_url, ping_idle_seconds=3600.0), make_engine(pg_url)
    held = HeldSessions(engine, idle_seconds=0.0)
    try:
        first = await _pid(held)
        await _terminate(admin, first)
        assert await _pid(held) != first
    finally:
        await held.aclose()
        await engine.dispose()
        await admin.dispose()


async def test_after_a_failed_transaction_the_next_gets_a_working_connection(
        pg_url: str) -> None:
    """The connection dies under a transaction (not idle long enough to be pinged): that
    transaction fails, the next one runs on a fresh connection."""
    engine, admin = make_engine(pg_url, ping_idle_seconds=3600.0), make_engine(pg_url)
    held = HeldSessions(engine, idle_seconds=3600.0)
    try:
        first = await _pid(held)
        await _terminate(admin, first)
        with pytest.raises(DBAPIError):
            await _pid(held)
        assert await _pid(held) != first
    finally:
        await held.aclose()
        await engine.dispose()
        await admin.dispose()
