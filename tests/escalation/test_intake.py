"""One intake transaction: an alarm is stored, planned and its first sends claimed in one commit."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import Alert, AttemptStatus, NotificationAttempt
from alert_gateway.outbox.claiming import lease_of
from tests.harness import device_client

from .env import DAUGHTER, escalation_env, policies_file, seed


class Commits:
    """Commits that wrote something (a statement changed rows), with the time each one ended."""

    def __init__(self) -> None:
        self.at: list[float] = []
        self._wrote: dict[int, bool] = {}

    def executed(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        """after_cursor_execute: note a statement that changed rows on this connection."""
        if not statement.lstrip().upper().startswith("SELECT") and cursor.rowcount != 0:
            self._wrote[id(conn)] = True

    def committed(self, conn: Any) -> None:
        """commit: count it if its transaction wrote."""
        if self._wrote.pop(id(conn), False):
            self.at.append(time.perf_counter())

    def before(self, moment: float) -> int:
        """How many writing commits ended before `moment` (perf_counter)."""
        return len([t for t in self.at if t < moment])


@contextmanager
def counting_commits(engine: AsyncEngine) -> Iterator[Commits]:
    """Listen to the gateway's engine for writing commits while the block runs."""
    commits = Commits()
    sync = engine.sync_engine
    event.listen(sync, "after_cursor_execute", commits.executed)
    event.listen(sync, "commit", commits.committed)
    try:
        yield commits
    finally:
        event.remove(sync, "after_cursor_execute", commits.executed)
        event.remove(sync, "commit", commits.committed)


async def test_the_first_requests_follow_one_commit(database_url: str, topic_root: str,
                                                    clock: FakeClock) -> None:
    """The daughter's first SMS and call reach Twilio after a single commit that stored the alarm."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev:
        with counting_commits(env.gateway.services.engine) as commits:
            await dev.alarm("pendant-1", "m-1", "sos")
            await env.until_fake(lambda f: env.sent(DAUGHTER, "Calls") and env.sent(DAUGHTER, "Messages"))
        first = min(r.at for r in env.sent(DAUGHTER, "Calls") + env.sent(DAUGHTER, "Messages"))
        assert commits.before(first) == 1, f"writing commits before the first request: {commits.at}, {first}"
        [alert] = await env.rows(Alert)
        sends = await env.attempts(alert_id=alert.id)
        assert {a.channel for a in sends if a.to_number == DAUGHTER} == {"sms", "voice"}



FIRST_CONTACT_BY_SMS = """
[[policy]]
name = "default"
redial = false
on_exhausted = "console"
  [[policy.step]]
  targets = ["family:1"]
  channels = ["sms"]
  wait_seconds = 600

[[policy]]
name = "technical"
severities = ["P3"]
redial = false
on_exhausted = "console"
  [[policy.step]]
  targets = ["family:1"]
  channels = ["sms"]
  wait_seconds = 600
"""
HOMES = 10  # residents 1-5 send a P3 (tamper) first, then residents 6-10 a P1 (sos)


async def test_a_burst_texts_every_p1_family_before_any_p3(database_url: str, topic_root: str,
                                                           clock: FakeClock, tmp_path: Path) -> None:
    """P3 alarms queued ahead of P1s in one burst: every P1 daughter is texted before any P3 one."""
    await seed(database_url, n=HOMES)
    options: dict[str, Any] = {"policies_file": policies_file(tmp_path, FIRST_CONTACT_BY_SMS),
                               "send_concurrency": 1,  # one request at a time: the order is observable
                               "ingest_batch_size": 2,  # the burst is stored over several commits
                               "mqtt_client_id": f"agtest-burst-{uuid.uuid4().hex[:8]}"}
    async with escalation_env(database_url, topic_root, clock, **options):
        pass  # the broker now keeps our session: the burst below waits for the next start
    async with device_client(topic_root, clock=clock) as dev:
        for i in range(1, HOMES + 1):
            await dev.alarm(f"pendant-{i}", f"burst-{i}", "tamper" if i <= HOMES // 2 else "sos")
    async with escalation_env(database_url, topic_root, clock, **options) as env:
        try:
            await env.until_fake(lambda f: len(f.creates("Messages")) >= HOMES)
        except TimeoutError:
            raise AssertionError(("sent to", [r.params["To"] for r in env.fake.creates("Messages")],
                                  "attempts", [(a.alert_id, a.status, a.to_number, a.error)
                                               for a in await env.attempts()])) from None
        severity = {f"+8190222{i:04d}": "P3" if i <= HOMES // 2 else "P1" for i in range(1, HOMES + 1)}
        order = [severity[r.params["To"][0]] for r in env.fake.creates("Messages")]
        assert order == ["P1"] * (HOMES // 2) + ["P3"] * (HOMES // 2), order


async def test_a_few_alarms_waiting_do_not_hold_back_the_texts_beside_the_calls(
        database_url: str, topic_root: str, clock: FakeClock) -> None:
    """Ten SOS alarms queued at once, stored two per commit: fewer than a storm's backlog waits,
    so each daughter's text (her one-tap answer link) goes out with her call. It is not kept
    until the last alarm is stored: the first daughter is texted before the last one is called."""
    await seed(database_url, n=HOMES)
    options: dict[str, Any] = {"ingest_batch_size": 2,  # the burst is stored over several commits
                               "mqtt_client_id": f"agtest-steady-{uuid.uuid4().hex[:8]}"}
    async with escalation_env(database_url, topic_root, clock, **options):
        pass  # the broker now keeps our session: the burst below waits for the next start
    async with device_client(topic_root, clock=clock) as dev:
        for i in range(1, HOMES + 1):
            await dev.alarm(f"pendant-{i}", f"steady-{i}", "sos")
    first, last = "+81902220001", f"+8190222{HOMES:04d}"
    async with escalation_env(database_url, topic_root, clock, **options) as env:
        await env.until_fake(lambda f: env.sent(first, "Messages") and env.sent(last, "Calls"))
        texted, called = env.sent(first, "Messages")[0].at, env.sent(last, "Calls")[0].at
        order = sorted((r.at, r.params["To"][0][-2:], resource)
                       for resource in ("Calls", "Messages") for r in env.fake.creates(resource))
        assert texted < called, f"requests in order (time, daughter, resource): {order}"


async def test_a_send_in_flight_keeps_its_lease_as_the_clock_moves(database_url: str, topic_root: str,
                                                                    clock: FakeClock) -> None:
    """Twilio stalls the first request while the clock moves on: its lease follows the clock, and the
    request is made once."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock, twilio_timeout_seconds=20) as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control("/_fake/fail", {"hold": True, "count": 1})  # until the lease moved
        lease = lease_of(env.settings)

        async def stalled() -> NotificationAttempt | None:
            if not env.fake.creates("Messages") or not env.fake.creates("Calls"):
                return None  # both requests made: one of them is the stalled one
            sending = [a for a in await env.attempts() if a.status == AttemptStatus.SENDING.value]
            return sending[0] if len(sending) == 1 else None

        await dev.alarm("pendant-1", "m-1", "sos")
        held = await env.changes.until(stalled)
        assert held.deadline_at == clock.now() + lease
        moved = await clock.advance(lease.total_seconds() / 3 + 1)

        async def renewed() -> bool:
            [row] = await env.attempts(id=held.id)
            return row.status != AttemptStatus.SENDING.value or row.deadline_at == moved + lease

        await env.changes.until(renewed)
        [row] = await env.attempts(id=held.id)
        assert row.status == AttemptStatus.SENDING.value, "renewal must come while the request is held"
        await env.control("/_fake/release")
        await env.changes.until(lambda: _recorded(env, held.id))
        assert len(env.sent(DAUGHTER, "Messages")) == 1 and len(env.sent(DAUGHTER, "Calls")) == 1


async def _recorded(env: Any, attempt_id: int | None) -> bool:
    [row] = await env.attempts(id=attempt_id)
    return row.sent_at is not None
