"""Stories about Twilio misbehaving: lost callbacks, transient API errors, an invalid number."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import unused_port

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import AlertEvent, NotificationAttempt, Purpose
from alert_gateway.twilio.quick_retry import QuickRetry
from tests.harness import device_client

from .env import DAUGHTER, SON, Env, escalation_env, policies_file, seed

BY_VOICE = """
[[policy]]
name = "default"
redial = false
on_exhausted = "console"
  [[policy.step]]
  targets = ["family:1"]
  channels = ["voice"]
  wait_seconds = 900
  [[policy.step]]
  targets = ["family:2"]
  channels = ["voice"]
  wait_seconds = 900
"""

BY_SMS = BY_VOICE.replace('["voice"]', '["sms"]')


async def _row(env: Env, to: str) -> NotificationAttempt | None:
    rows = await env.attempts(purpose=Purpose.ALERT.value, to_number=to)
    return rows[0] if rows else None


async def _status(env: Env, to: str, *statuses: str) -> NotificationAttempt | None:
    row = await _row(env, to)
    return row if row is not None and row.status in statuses else None


def _polls(env: Env, sid: str) -> int:
    return len([r for r in env.fake.api_requests("Calls") if r.method == "GET" and sid in r.url])


async def test_a_call_whose_callbacks_never_come_is_polled_at_its_deadline(
    database_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """Callbacks are lost; 3 min on, the gateway asks Twilio, learns "no-answer" and calls the son."""
    await seed(database_url)
    dead = f"http://127.0.0.1:{unused_port()}"  # where Twilio posts callbacks: nobody listens
    async with escalation_env(database_url, topic_root, clock, public_url=dead,
                              policies_file=policies_file(tmp_path, BY_VOICE)) as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control(f"/_fake/phones/{DAUGHTER}", {"call": "no-answer"})
        await dev.alarm("pendant-1", "m-1", "sos")
        await env.until_fake(lambda f: any(c.finished for c in f.calls.values()))
        row = await env.changes.until(lambda: _status(env, DAUGHTER, "queued"))
        assert row.provider_sid is not None
        await clock.advance(179)
        await env.changes.until(lambda: _status(env, DAUGHTER, "queued"))
        assert _polls(env, row.provider_sid) == 0 and env.sent(SON, "Calls") == []

        await clock.advance(2)  # past the 3-minute deadline of a queued call
        await env.until_fake(lambda f: env.sent(SON, "Calls"))
        assert _polls(env, row.provider_sid) == 1
        settled = await _row(env, DAUGHTER)
        assert settled is not None and settled.status == "not_reached"


async def test_a_call_still_ringing_after_three_polls_counts_as_not_reached(
    database_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """A call Twilio keeps reporting in progress is polled three times, then the son is called."""
    await seed(database_url)
    dead = f"http://127.0.0.1:{unused_port()}"
    async with escalation_env(database_url, topic_root, clock, public_url=dead,
                              policies_file=policies_file(tmp_path, BY_VOICE)) as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control(f"/_fake/phones/{DAUGHTER}", {"call": "answer", "press": "wait"})
        await dev.alarm("pendant-1", "m-1", "sos")
        await env.until_fake(lambda f: any(c.waiting for c in f.calls.values()))
        row = await env.changes.until(lambda: _status(env, DAUGHTER, "queued"))
        assert row.provider_sid is not None
        sid = row.provider_sid
        for polls in (1, 2):  # at the deadline, then once a minute
            await clock.advance(181 if polls == 1 else 61)
            await env.until_fake(lambda f, n=polls: _polls(env, sid) >= n)
            await env.changes.until(lambda: _status(env, DAUGHTER, "in_progress"))
            assert env.sent(SON, "Calls") == []
        await clock.advance(61)
        await env.until_fake(lambda f: env.sent(SON, "Calls"))
        assert _polls(env, sid) == 3
        settled = await _row(env, DAUGHTER)
        assert settled is not None and settled.status == "not_reached"
        assert settled.error == "no final status from Twilio before the deadline"


async def test_transient_api_errors_are_retried_and_the_sms_goes_out_once(
    database_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """503s outlasting the sender's quick retries twice, then retried after 2 s and 4 s: one SMS."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock,
                              policies_file=policies_file(tmp_path, BY_SMS)) as env, \
            device_client(topic_root, clock=clock) as dev:
        quick = QuickRetry().retries + 1  # requests the sender makes before the outbox takes over
        await env.control("/_fake/fail", {"status": 503, "count": 2 * quick})
        await dev.alarm("pendant-1", "m-1", "sos")
        await env.until_fake(lambda f: len(env.sent(DAUGHTER, "Messages")) == quick)
        await env.changes.until(lambda: _retries(env, 1))
        await clock.advance(2)
        await env.until_fake(lambda f: len(env.sent(DAUGHTER, "Messages")) == 2 * quick)
        await env.changes.until(lambda: _retries(env, 2))
        await clock.advance(4)
        await env.until_fake(lambda f: any(m.to == DAUGHTER and m.finished
                                           for m in f.messages.values()))
        assert [r.status for r in env.sent(DAUGHTER, "Messages")] == [503] * 2 * quick + [201]
        assert [m.to for m in env.fake.messages.values()] == [DAUGHTER]
        row = await env.changes.until(lambda: _status(env, DAUGHTER, "delivered"))
        assert row.retries == 2 and row.provider_sid is not None
        await clock.advance(30)
        assert len(env.sent(DAUGHTER, "Messages")) == 2 * quick + 1
        assert env.sent(SON, "Messages") == []


async def _retries(env: Env, n: int) -> bool:
    row = await _row(env, DAUGHTER)
    return row is not None and row.retries == n and row.status == "pending"


async def test_an_invalid_number_is_recorded_and_skipped_at_once(
    database_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """A 400 with Twilio code 21211 is not retried: the attempt says so and the son is texted now."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock,
                              policies_file=policies_file(tmp_path, BY_SMS)) as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control("/_fake/fail", {"status": 400, "code": 21211, "count": 1})
        await dev.alarm("pendant-1", "m-1", "sos")
        await env.until_fake(lambda f: env.sent(SON, "Messages"))  # no clock advance needed
        row = await _row(env, DAUGHTER)
        assert row is not None and (row.status, row.error_code) == ("failed", "21211")
        assert row.provider_sid is None
        await clock.advance(600)
        await env.until_fake(lambda f: all(m.finished for m in f.messages.values()))
        assert len(env.sent(DAUGHTER, "Messages")) == 1  # never retried
        alert = await env.alert()
        assert alert is not None and alert.id is not None
        steps = [e.message for e in await env.rows(AlertEvent, alert_id=alert.id)]
        assert any("step 1: nobody reached" in m for m in steps)
