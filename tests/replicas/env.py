"""Replicas of the gateway in the test's event loop, sharing one PostgreSQL database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg

from alert_gateway.bus import AlertChange
from alert_gateway.clock import FakeClock
from alert_gateway.gateway import Gateway
from tests.conftest import PG_ADMIN_DSN
from tests.harness import WAIT_SECONDS, Changes, gateway_settings, running_gateway

T = TypeVar("T")


@asynccontextmanager
async def replica(url: str, topic_root: str, clock: FakeClock,
                  **overrides: Any) -> AsyncIterator[tuple[Gateway, Changes]]:
    """A gateway on an existing schema, returned once it listens for the other replicas."""
    settings = gateway_settings(url, topic_root, **overrides)
    async with running_gateway(settings, clock=clock, schema=False) as (gateway, changes):
        await listening(gateway)
        yield gateway, changes


async def listening(gateway: Gateway) -> None:
    """Return once the gateway's replica link is connected (bounded)."""
    link = gateway.services.replicas
    assert link is not None, "a PostgreSQL gateway has a replica link"
    async with asyncio.timeout(WAIT_SECONDS):
        await link.connected.wait()


class Heard:
    """A bus listener that keeps every change and lets the test await one."""

    def __init__(self, gateway: Gateway) -> None:
        self.changes: list[AlertChange] = []
        self._cond = asyncio.Condition()
        gateway.services.bus.subscribe(self.listen)

    async def listen(self, change: AlertChange) -> None:
        """Bus listener: keep the change, wake waiters."""
        async with self._cond:
            self.changes.append(change)
            self._cond.notify_all()

    async def until(self, check: Callable[[list[AlertChange]], T | None]) -> T:
        """Wait (bounded) until `check(changes)` is truthy; fails with what was heard."""
        try:
            async with asyncio.timeout(WAIT_SECONDS), self._cond:
                await self._cond.wait_for(lambda: check(self.changes))
        except TimeoutError:
            raise AssertionError(f"not heard; the bus carried {self.changes}") from None
        return check(self.changes)  # type: ignore[return-value]


async def terminate_listen_backend(application_name: str) -> int:
    """Kill the server session of a replica's listen connection (as a network cut or a DBA would)."""
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        killed = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = $1", application_name)
    finally:
        await conn.close()
    return int(killed)

