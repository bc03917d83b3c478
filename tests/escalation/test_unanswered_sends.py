"""Stories of Twilio blips on the first notification: refused requests, and requests unanswered."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import unused_port

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import Alert, NotificationAttempt, Purpose
from alert_gateway.twilio.fake_state import FakeTwilio
from tests.harness import device_client

from .env import DAUGHTER, Env, escalation_env, policies_file, seed
from .test_delivery import BY_SMS, BY_VOICE

TIMEOUT = 0.5  # twilio_timeout_seconds: the fake holds a request longer than this
# Twilio holds the request past our timeout, then takes it but its answer is lost (the connection
# closes unanswered), so only the lookup can tell whether Twilio took it. Not a cut-off at our
# timeout: a request not yet read by then (a loaded machine) would never reach the fake at all.
TAKEN_UNANSWERED = {"delay": TIMEOUT * 3, "drop": True, "count": 1}
RESOURCE = {"sms": "Messages", "voice": "Calls"}
# where Twilio posts status callbacks: nobody listens, so only the lookup can tell
NOBODY = f"http://127.0.0.1:{unused_port()}"


def seen(fake: FakeTwilio) -> str:
    """Every request the fake received, for a failing assertion."""
    return "\n".join(f"{r.at:.3f} {r.method} {r.url} {r.params.get('To')} -> {r.status}"
                     f"{' dropped' if r.dropped else ''} at {r.answered_at or 0:.3f}"
                     for r in fake.api_requests())


def made_for(fake: FakeTwilio, channel: str, to: str) -> list[str]:
    """Sids of the messages or calls the fake created for `to`."""
    items = fake.messages.values() if channel == "sms" else fake.calls.values()
    return [i.sid for i in items if i.to == to]


async def _attempt(env: Env, **want: object) -> NotificationAttempt | None:
    rows = await env.attempts(purpose=Purpose.ALERT.value, to_number=DAUGHTER)
    if rows and all(getattr(rows[0], k) == v for k, v in want.items()):
        return rows[0]
    return None


async def _notified(env: Env) -> Alert | None:
    alert = await env.alert()
    return alert if alert is not None and alert.first_notified_at is not None else None


async def test_two_500s_delay_the_first_text_by_under_a_second(
    database_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """Twilio answers 500 twice: the daughter's text is accepted within a second, the clock unmoved."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock,
                              policies_file=policies_file(tmp_path, BY_SMS)) as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control("/_fake/fail", {"status": 500, "count": 2})
        await dev.alarm("pendant-1", "m-1", "sos")
        await env.until_fake(lambda f: made_for(f, "sms", DAUGHTER))
        posts = env.sent(DAUGHTER, "Messages")
        assert [r.status for r in posts] == [500, 500, 201], seen(env.fake)
        assert posts[-1].at - posts[0].at < 1.0, seen(env.fake)
        alert = await env.changes.until(lambda: _notified(env))
        assert alert.first_notified_at == alert.opened_at  # no backoff on the (unmoved) clock
        row = await _attempt(env)
        assert row is not None and row.retries == 0


@pytest.mark.parametrize("channel", ["sms", "voice"])
async def test_a_request_twilio_took_too_late_is_not_sent_again(
    database_url: str, topic_root: str, clock: FakeClock, tmp_path: Path, channel: str
) -> None:
    """Twilio takes the request after our timeout, and its answer and callbacks are lost: the
    lookup finds it."""
    await seed(database_url)
    policy = BY_SMS if channel == "sms" else BY_VOICE
    async with escalation_env(database_url, topic_root, clock, twilio_timeout_seconds=TIMEOUT,
                              public_url=NOBODY, policies_file=policies_file(tmp_path, policy)) as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control("/_fake/fail", TAKEN_UNANSWERED)
        await dev.alarm("pendant-1", "m-1", "sos")
        await env.changes.until(lambda: _attempt(env, status="pending", retries=1))
        [sid] = await env.until_fake(lambda f: made_for(f, channel, DAUGHTER))
        await clock.advance(2)  # the outbox's first retry
        row = await env.changes.until(lambda: _attempt(env, provider_sid=sid))
        assert row.status != "pending"
        assert len(env.sent(DAUGHTER, RESOURCE[channel])) == 2, seen(env.fake)  # POST, lookup
        assert made_for(env.fake, channel, DAUGHTER) == [sid], seen(env.fake)
        assert row.alert_id is not None
        said = [e.message for e in await env.timeline(row.alert_id)]
        assert f"request timed out; Twilio had it (sid {sid})" in said, said
        alert = await env.changes.until(lambda: _notified(env))
        assert alert.first_notified_at is not None


async def test_a_request_twilio_never_took_is_sent_again(
    database_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """A request held past our timeout and then refused: at the retry it is sent again, once."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock, twilio_timeout_seconds=TIMEOUT,
                              policies_file=policies_file(tmp_path, BY_SMS)) as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control("/_fake/fail", {"hold": True, "status": 500, "count": 1})
        await dev.alarm("pendant-1", "m-1", "sos")
        await env.changes.until(lambda: _attempt(env, status="pending", retries=1))
        await env.control("/_fake/release")  # refused only after we gave up on it
        await env.until_fake(lambda f: all(r.status is not None for r in f.api_requests()))
        await clock.advance(2)
        [sid] = await env.until_fake(lambda f: made_for(f, "sms", DAUGHTER))
        row = await env.changes.until(lambda: _attempt(env, provider_sid=sid))
        posts = [r for r in env.sent(DAUGHTER, "Messages") if r.method == "POST"]
        assert [r.status for r in posts] == [500, 201], seen(env.fake)
        assert row.alert_id is not None
        said = [e.message for e in await env.timeline(row.alert_id)]
        assert "request timed out; not received by Twilio, sent again" in said, said


async def test_when_twilio_cannot_be_asked_the_text_is_sent_again(
    database_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """The lookup itself fails: rather two texts than none, and the timeline says why."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock, twilio_timeout_seconds=TIMEOUT,
                              public_url=NOBODY, policies_file=policies_file(tmp_path, BY_SMS)) as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control("/_fake/fail", TAKEN_UNANSWERED)
        await env.control("/_fake/fail", {"status": 500, "count": 1})  # the lookup
        await dev.alarm("pendant-1", "m-1", "sos")
        await env.changes.until(lambda: _attempt(env, status="pending", retries=1))
        try:  # the request runs on after our timeout, so the fake always gets it
            await env.until_fake(lambda f: made_for(f, "sms", DAUGHTER))
        except TimeoutError:
            raise AssertionError(f"the held request made no text: {seen(env.fake)}; "
                                 f"{await _attempt(env)}") from None
        await clock.advance(2)
        await env.until_fake(lambda f: len(made_for(f, "sms", DAUGHTER)) == 2)
        lookups = [r for r in env.sent(DAUGHTER, "Messages") if r.method == "GET"]
        assert [r.status for r in lookups] == [500], seen(env.fake)
        row = await _attempt(env)
        assert row is not None and row.alert_id is not None
        said = [e.message for e in await env.timeline(row.alert_id)]
        assert ("request timed out; Twilio could not be asked whether it had it, sent again"
                in said), said


async def test_a_callback_from_a_request_taken_too_late_stops_the_retry(
    database_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """Twilio takes the request after our timeout and its callback names the attempt: no resend,
    and the timeline says Twilio had it; the alert counts as notified."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock, twilio_timeout_seconds=TIMEOUT,
                              policies_file=policies_file(tmp_path, BY_SMS)) as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control("/_fake/fail", {"hold": True, "count": 1})
        await dev.alarm("pendant-1", "m-1", "sos")
        await env.changes.until(lambda: _attempt(env, retries=1))
        await env.control("/_fake/release")  # served only after we gave up on it
        [sid] = await env.until_fake(lambda f: made_for(f, "sms", DAUGHTER))
        await env.changes.until(lambda: _attempt(env, provider_sid=sid))
        await clock.advance(60)
        await env.until_fake(lambda f: all(m.finished for m in f.messages.values()))
        assert len(env.sent(DAUGHTER, "Messages")) == 1, seen(env.fake)
        assert made_for(env.fake, "sms", DAUGHTER) == [sid], seen(env.fake)
        row = await _attempt(env, provider_sid=sid)
        assert row is not None and row.alert_id is not None and row.deadline_at is None, row
        said = [e.message for e in await env.timeline(row.alert_id)]
        assert f"request timed out; Twilio had it (sid {sid})" in said, said
        [alert] = await env.rows(Alert)
        assert alert.first_notified_at is not None, alert


async def test_a_request_twilio_still_holds_at_the_retry_is_sent_once(
    database_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """Twilio still holds the timed-out request when the retry comes, and takes it later (a storm):
    the daughter gets one text, the attempt has its sid, and the timeline says Twilio had it."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock, twilio_timeout_seconds=TIMEOUT,
                              policies_file=policies_file(tmp_path, BY_SMS)) as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control("/_fake/fail", {"hold": True, "count": 1})
        await dev.alarm("pendant-1", "m-1", "sos")
        await env.changes.until(lambda: _attempt(env, status="pending", retries=1))
        assert made_for(env.fake, "sms", DAUGHTER) == [], seen(env.fake)  # still held
        await clock.advance(2)  # the outbox's retry, while Twilio holds the first request
        await env.changes.until(lambda: _attempt(env, status="sending", retries=1))
        await env.control("/_fake/release")  # taken now, while the retry waits for its answer
        row = await env.changes.until(lambda: _retried(env))
        await env.until_fake(lambda f: all(r.status is not None for r in f.api_requests()))
        posts = [r for r in env.sent(DAUGHTER, "Messages") if r.method == "POST"]
        assert len(posts) == 1, seen(env.fake)
        [sid] = made_for(env.fake, "sms", DAUGHTER)
        row = await env.changes.until(lambda: _attempt(env, provider_sid=sid))
        assert row.alert_id is not None
        said = [e.message for e in await env.timeline(row.alert_id)]
        assert f"request timed out; Twilio had it (sid {sid})" in said, said


async def _retried(env: Env) -> NotificationAttempt | None:
    """The attempt once its retry has decided (sent again, or found at Twilio)."""
    row = await _attempt(env)
    if row is None or row.alert_id is None:
        return None
    said = [e.message for e in await env.timeline(row.alert_id)]
    return row if any(m.startswith("request timed out;") for m in said) else None
