"""Pooled PostgreSQL connections: one the server ended while it sat idle is replaced before use."""

from __future__ import annotations

from sqlalchemy import text

from alert_gateway.db.engine import make_engine


async def test_a_connection_the_server_ended_while_idle_is_replaced_before_use(pg_url: str) -> None:
    """The server ends the session of an idle pooled connection: the next transaction succeeds."""
    engine = make_engine(pg_url, ping_idle_seconds=0.0)  # every reuse counts as idle long enough
    admin = make_engine(pg_url)
    try:
        async with engine.connect() as conn:
            first = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with admin.connect() as conn:  # waits (up to 5 s) until that backend has exited
            assert (await conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"),
                                       {"pid": first})).scalar_one()
        async with engine.connect() as conn:
            second = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert second != first
    finally:
        await engine.dispose()
        await admin.dispose()


async def test_the_connection_handed_back_last_is_the_next_one_used(pg_url: str) -> None:
    """One caller after another gets the same connection (and its prepared statements)."""
    engine = make_engine(pg_url, ping_idle_seconds=3600.0)
    try:
        pids = []
        for _ in range(3):
            async with engine.connect() as conn:
                pids.append((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
        assert len(set(pids)) == 1
    finally:
        await engine.dispose()
