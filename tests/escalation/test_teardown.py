"""A story's environment stops each client before the server it calls (env.py): the fake
Twilio's callbacks still under way when a story ends are answered, none is cut off or refused
by the gateway's webhook server closing (a connection made while it closed leaked its socket,
python/cpython#109564, and held the story's end until the fake gave up after 10 s)."""

from __future__ import annotations

from alert_gateway.clock import FakeClock
from tests.harness import device_client

from .env import DAUGHTER, escalation_env, seed


async def test_callbacks_under_way_when_a_story_ends_are_answered_not_cut_off(
        sqlite_url: str, topic_root: str, clock: FakeClock) -> None:
    """The story ends while the call's and SMS's callbacks are being posted: each callback the
    fake sent got the gateway's answer, and none was tried once the gateway's server closed."""
    await seed(sqlite_url)
    async with escalation_env(sqlite_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev:
        await dev.alarm("pendant-1", "m-1", "sos")
        await env.until_fake(lambda f: env.sent(DAUGHTER, "Calls") and env.sent(DAUGHTER, "Messages"))
        await env.until_fake(lambda f: any(r.kind == "callback" for r in f.recorded))
    posted = [r for r in env.fake.recorded if r.kind in ("callback", "webhook")]
    assert posted
    assert [(r.url, r.status) for r in posted if r.status is None] == []
