"""SQLite's one connection: an urgent checkout (an alarm's store) goes before those queued earlier."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from alert_gateway.db.engine import make_engine
from alert_gateway.db.urgent import urgent


async def hold_connection(engine: AsyncEngine, held: asyncio.Event, release: asyncio.Event) -> None:
    """Take the one connection, say so, and keep it until released."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        held.set()
        await release.wait()


async def test_an_urgent_checkout_goes_before_the_ones_queued_before_it(sqlite_url: str) -> None:
    """While the connection is held, two plain checkouts queue, then an urgent one: once the
    holder is done the urgent one runs next, then the others in the order they came."""
    engine = make_engine(sqlite_url)
    order: list[str] = []
    held, release = asyncio.Event(), asyncio.Event()

    async def use(name: str) -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            order.append(name)

    async def use_urgently() -> None:
        with urgent():
            await use("alarm")

    try:
        first = asyncio.create_task(hold_connection(engine, held, release))
        await held.wait()
        waiting = [asyncio.create_task(use("sweep")), asyncio.create_task(use("callbacks"))]
        await asyncio.sleep(0)  # let both queue for the connection (no time passes)
        waiting.append(asyncio.create_task(use_urgently()))
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(first, *waiting)
        assert order == ["alarm", "sweep", "callbacks"]
    finally:
        await engine.dispose()


async def test_a_checkout_that_gives_up_waiting_passes_its_turn_on(sqlite_url: str) -> None:
    """A queued checkout cancelled while waiting does not keep the connection from the next."""
    engine = make_engine(sqlite_url)
    held, release = asyncio.Event(), asyncio.Event()

    async def use() -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT 1"))).scalar_one())

    try:
        first = asyncio.create_task(hold_connection(engine, held, release))
        await held.wait()
        gives_up = asyncio.create_task(use())
        after = asyncio.create_task(use())
        await asyncio.sleep(0)
        gives_up.cancel()
        release.set()
        await first
        assert await asyncio.wait_for(after, 10) == 1
    finally:
        await engine.dispose()


async def test_background_work_lets_the_loop_turn_between_its_transactions(sqlite_url: str) -> None:
    """SQLite's statements run on the loop's thread: a job of many transactions lets what is
    ready run before each one (an alarm read from the broker meanwhile is stored in between);
    an alarm's own store does not wait for that turn."""
    engine = make_engine(sqlite_url)
    try:
        async with engine.connect() as conn:  # connected: no first-use wait below
            await conn.execute(text("SELECT 1"))
        loop, ran = asyncio.get_running_loop(), list[str]()
        loop.call_soon(ran.append, "ready")
        with urgent():
            async with engine.connect() as conn:  # (leaving the block lets the loop turn)
                await conn.execute(text("SELECT 1"))
                assert ran == []  # the alarm's store went first
        ran.clear()
        loop.call_soon(ran.append, "ready")
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            assert ran == ["ready"]  # background work let it run first
    finally:
        await engine.dispose()
