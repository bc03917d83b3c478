"""A replica dies silently after an escalation step; the other, asleep, runs the next step on time."""

from __future__ import annotations

import uuid
from pathlib import Path

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import AttemptStatus
from tests.escalation.env import DAUGHTER, SON, Env, escalation_env, policies_file, seed
from tests.harness import device_client

from .env import listening

SMS_THEN_CALL = """
[[policy]]
name = "default"
redial = false
  [[policy.step]]
  targets = ["family:1"]
  channels = ["sms"]
  wait_seconds = 60
  [[policy.step]]
  targets = ["family:2"]
  channels = ["voice"]
  wait_seconds = 60
"""
B_SLEEPERS = 3  # B's engine, dispatcher and supervisor, each waiting on the clock


def _root() -> str:
    return f"agtest-{uuid.uuid4().hex[:10]}/eldercare/v1/devices"


async def test_the_survivor_calls_the_second_contact_when_the_step_falls_due(
    pg_url: str, tmp_path: Path
) -> None:
    """The replica that sent step 1 is killed; at step 2's due time the other calls the son."""
    clock = FakeClock()
    await seed(pg_url)
    policies = policies_file(tmp_path, SMS_THEN_CALL)
    root_a = _root()  # only A takes alarms from the broker; B hears of them through PostgreSQL
    # B starts first and falls asleep, so its start-up look at the database is over when the
    # alarm comes: from then on only A's notices can tell it about the alert.
    async with escalation_env(pg_url, _root(), clock, policies_file=policies) as b:
        await listening(b.gateway)
        await b.changes.until(lambda: _asleep(clock, B_SLEEPERS))
        async with escalation_env(pg_url, root_a, clock, policies_file=policies) as a:
            await listening(a.gateway)
            await _takeover(a, b, clock)


async def _takeover(a: Env, b: Env, clock: FakeClock) -> None:
    async with device_client(a.settings.mqtt_topic_root, clock=clock) as devices:
        await devices.alarm("pendant-1", "m-1", "sos")
        # Either replica's engine and dispatcher may take step 1: the one that sent it dies.
        dead = await a.changes.until(lambda: _sender_of_step_one(a, b))
    survivor = b if dead is a else a
    await dead.changes.until(lambda: _daughter_told(dead))
    await dead.gateway.abort()  # no clean shutdown: nothing is handed over

    await clock.advance(60)  # step 2 falls due; nothing else happens that could wake anyone
    try:
        await survivor.until_fake(lambda f: survivor.sent(SON, "Calls"))
    except TimeoutError:
        alert = await survivor.alert()
        row = await survivor.escalation(alert.id) if alert and alert.id else None
        raise AssertionError(f"the survivor did not run step 2 when due: {row}") from None
    assert dead.sent(SON, "Calls") == []
    assert len(a.sent(DAUGHTER, "Messages") + b.sent(DAUGHTER, "Messages")) == 1


async def _asleep(clock: FakeClock, sleepers: int) -> bool:
    return clock.sleepers >= sleepers


async def _sender_of_step_one(a: Env, b: Env) -> Env | None:
    return next((env for env in (a, b) if env.sent(DAUGHTER, "Messages")), None)


async def _daughter_told(env: Env) -> bool:
    """The daughter's SMS reached a final status: nothing of step 1 is still in flight."""
    rows = await env.attempts(to_number=DAUGHTER)
    return bool(rows) and all(r.status == AttemptStatus.DELIVERED.value for r in rows)
