"""Quick retries of refused creates: what the fake Twilio receives, and when."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest

from alert_gateway.metrics import Metrics
from alert_gateway.twilio.client import (
    RefusedSendError,
    TwilioSender,
    UnknownOutcomeError,
)
from alert_gateway.twilio.fake_state import FakeTwilio
from alert_gateway.twilio.quick_retry import QuickRetry

from .conftest import Env, make_settings

TO = "+819012345678"
NO_JITTER = QuickRetry(jitter=lambda: 0.0)  # the product's delays at their longest


def seen(fake: FakeTwilio) -> str:
    """The fake's recorded API requests, for a failing assertion."""
    return "\n".join(f"{r.at:.3f} {r.method} {r.url} -> {r.status}" for r in fake.api_requests())


async def fail(env: Env, **rule: object) -> None:
    """Break the fake's next API requests (POST /_fake/fail)."""
    async with aiohttp.ClientSession() as session:
        async with session.post(env.fake_url + "/_fake/fail", json=rule) as resp:
            assert resp.status == 200, await resp.text()


@asynccontextmanager
async def sender(env: Env, quick: QuickRetry, **settings: object) -> AsyncIterator[TwilioSender]:
    """A started sender against the fake with this quick-retry policy."""
    made = TwilioSender(make_settings(env.fake_url, env.hooks_url, **settings), env.metrics,
                        quick_retry=quick)
    await made.start()
    try:
        yield made
    finally:
        await made.close()


async def send(client: TwilioSender, env: Env) -> str:
    """One SMS through `client`; its sid."""
    result = await client.send_sms(to=TO, body="x", status_callback=env.hooks_url + "/twilio/s/s")
    return result.sid


async def test_two_500s_then_accepted_within_a_second(env: Env) -> None:
    """Two 500s are retried at once: the third request is accepted under a second after the first."""
    await fail(env, status=500, count=2)
    async with sender(env, NO_JITTER) as client:
        sid = await send(client, env)
    posts = env.fake.creates("Messages")
    assert [r.status for r in posts] == [500, 500, 201], seen(env.fake)
    assert posts[-1].at - posts[0].at < 1.0, seen(env.fake)
    assert list(env.fake.messages) == [sid]


async def test_retry_after_is_honoured_within_its_cap(env: Env) -> None:
    """A 429 saying Retry-After 0.5 is retried no sooner than half a second later."""
    await fail(env, status=429, count=1, retry_after=0.5)
    async with sender(env, NO_JITTER) as client:
        await send(client, env)
    first, second = env.fake.creates("Messages")
    assert (first.status, second.status) == (429, 201), seen(env.fake)
    assert second.at - first.at >= 0.5, seen(env.fake)


async def test_a_long_retry_after_goes_back_to_the_outbox(env: Env) -> None:
    """A 429 saying Retry-After 30 is not retried here: the outbox's backoff waits instead."""
    await fail(env, status=429, count=1, retry_after=30)
    async with sender(env, NO_JITTER) as client:
        with pytest.raises(RefusedSendError):
            await send(client, env)
    assert [r.status for r in env.fake.creates("Messages")] == [429], seen(env.fake)


async def test_refusals_beyond_the_retries_are_handed_back(env: Env) -> None:
    """Four 503s in a row: four requests, then a transient error for the outbox, within the budget."""
    await fail(env, status=503, count=10)
    started = time.perf_counter()
    async with sender(env, QuickRetry(retries=3, first_delay=0.01)) as client:
        with pytest.raises(RefusedSendError):
            await send(client, env)
    assert [r.status for r in env.fake.creates("Messages")] == [503] * 4, seen(env.fake)
    assert time.perf_counter() - started < 1.0
    assert env.fake.messages == {}


async def test_the_budget_bounds_the_retries(env: Env) -> None:
    """Retries that would start after the time budget are not made."""
    await fail(env, status=500, count=10)
    async with sender(env, QuickRetry(retries=10, first_delay=0.1, budget=0.25,
                                      jitter=lambda: 0.0)) as client:
        with pytest.raises(RefusedSendError):
            await send(client, env)
    assert len(env.fake.creates("Messages")) == 2, seen(env.fake)  # waits 0.1, then 0.2 is over


async def test_a_timeout_is_never_retried_here(env: Env) -> None:
    """A request that gets no answer may have gone out: one request, an unknown outcome."""
    await fail(env, delay=5, count=1)
    async with sender(env, QuickRetry(first_delay=0.01), twilio_timeout_seconds=0.2) as client:
        with pytest.raises(UnknownOutcomeError, match="timed out"):
            await send(client, env)
    assert len(env.fake.creates("Messages")) == 1, seen(env.fake)


async def test_a_refused_connection_is_retried_and_counted(env: Env) -> None:
    """Nothing listening: every quick retry is made and counted, then a transient error."""
    settings = make_settings("http://127.0.0.1:9", env.hooks_url)
    metrics = Metrics()
    client = TwilioSender(settings, metrics, quick_retry=QuickRetry(retries=2, first_delay=0.01))
    await client.start()
    try:
        with pytest.raises(RefusedSendError):
            await send(client, env)
    finally:
        await client.close()
    labels = {"operation": "send_sms", "kind": "transient"}
    assert metrics.registry.get_sample_value("alert_gateway_twilio_errors_total", labels) == 3


@pytest.mark.parametrize(("retry", "retry_after", "expected"), [
    (0, None, 0.2), (1, None, 0.4), (2, None, 0.8), (3, None, None),
    (0, 0.7, 0.7), (2, 0.5, 0.8), (0, 1.5, None),
])
def test_delays_double_and_honour_retry_after(
    retry: int, retry_after: float | None, expected: float | None
) -> None:
    """Delays double from 0.2 s, a Retry-After up to 1 s raises them, a longer one stops."""
    assert NO_JITTER.delay(retry, retry_after) == expected


def test_jitter_shortens_by_at_most_half() -> None:
    """Full jitter halves a delay; none leaves it."""
    assert QuickRetry(jitter=lambda: 0.999999).delay(1, None) == pytest.approx(0.2, abs=1e-5)
