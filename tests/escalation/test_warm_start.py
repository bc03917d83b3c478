"""The first alarm after a start finds the gateway warm: on its way to its first Twilio request
no statement is compiled and no connection to Twilio is opened, and the warm-up before the
subscription left nothing anyone could see (issue 11: the first alarm was a run's slowest)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.engine.interfaces import CacheStats
from sqlalchemy.ext.asyncio import AsyncEngine

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import (
    Alert,
    AlertEvent,
    Contact,
    Device,
    InboundMessage,
    NotificationAttempt,
    Resident,
)
from tests.harness import device_client

from .env import DAUGHTER, Env, escalation_env, seed

# The tasks an alarm's path runs in: its store and plan, then its sends. Other tasks' first
# rounds (supervision, gauges, the engine's first look) may still compile theirs meanwhile.
ALARM_PATH_TASKS = ("ingest-writer", "send-")


@contextmanager
def compiles(engine: AsyncEngine) -> Iterator[list[tuple[float, str]]]:
    """(perf_counter, SQL) of each statement SQLAlchemy had to compile (a compiled-cache miss)
    on the alarm's path."""
    seen: list[tuple[float, str]] = []

    def note(_conn: Any, _cursor: Any, statement: str, _params: Any,
             context: DefaultExecutionContext | None, _many: bool) -> None:
        task = asyncio.current_task()
        on_path = task is not None and task.get_name().startswith(ALARM_PATH_TASKS)
        if on_path and context is not None and context.cache_hit is CacheStats.CACHE_MISS:
            seen.append((time.perf_counter(), statement))

    sync = engine.sync_engine
    event.listen(sync, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(sync, "before_cursor_execute", note)


async def _counts(env: Env) -> dict[str, int]:
    tables = (Resident, Device, Contact, Alert, AlertEvent, InboundMessage, NotificationAttempt)
    return {t.__name__: len(await env.rows(t)) for t in tables}


async def test_the_first_alarm_after_a_start_compiles_nothing_and_opens_no_twilio_connection(
        database_url: str, topic_root: str, clock: FakeClock) -> None:
    """Started and warm: no row or Twilio message was made; the pendant press then reaches the
    daughter's call and SMS with nothing compiled, on connections the warm-up opened."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock, drill_mode=True) as env, \
            device_client(topic_root, clock=clock) as dev:
        assert await _counts(env) == {"Resident": 1, "Device": 1, "Contact": 2, "Alert": 0,
                                      "AlertEvent": 0, "InboundMessage": 0,
                                      "NotificationAttempt": 0}
        assert (env.fake.messages, env.fake.calls) == ({}, {})
        warm_ports = {r.client_port for r in env.fake.api_requests()}
        assert all(r.method == "GET" for r in env.fake.api_requests()) and warm_ports
        with compiles(env.gateway.services.engine) as compiled:
            await dev.alarm("pendant-1", "m-1", "sos")
            await env.until_fake(lambda f: env.sent(DAUGHTER, "Calls") and env.sent(DAUGHTER, "Messages"))
        firsts = [*env.sent(DAUGHTER, "Calls"), *env.sent(DAUGHTER, "Messages")]
        first_at = min(r.at for r in firsts)
        assert [sql for at, sql in compiled if at < first_at] == []
        assert {r.client_port for r in firsts} <= warm_ports
