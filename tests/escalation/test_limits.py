"""Stories about limits: one contact in a storm of alarms, short codes, and replies to robots."""

from __future__ import annotations

from pathlib import Path

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import Alert, NotificationAttempt, Purpose
from tests.harness import device_client

from .env import DAUGHTER, Env, escalation_env, policies_file, seed, seed_shared

FIRST_FAMILY_BY_SMS = """
[[policy]]
name = "default"
redial = false
on_exhausted = "console"
  [[policy.step]]
  targets = ["family:1"]
  channels = ["sms"]
  wait_seconds = 3600
"""


def _bodies(env: Env) -> list[str]:
    return [r.params["Body"][0] for r in env.sent(DAUGHTER, "Messages")]


async def _capped(env: Env, *, sent: int, waiting: int) -> bool:
    """`sent` alert SMS are recorded as sent and `waiting` wait for a later time (not lost)."""
    now = env.clock.now()
    rows = await env.attempts(purpose=Purpose.ALERT.value)
    done = [r for r in rows if r.provider_sid and r.status != "sending"]
    later = [r for r in rows if r.status == "pending" and r.not_before > now]
    return (len(done), len(later)) == (sent, waiting)


async def test_a_contact_shared_by_many_residents_is_not_flooded_in_a_storm(
    database_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """Five alarms for one daughter: two SMS per 10-minute window, the rest wait, none is lost."""
    await seed_shared(database_url, n=5)
    policies = policies_file(tmp_path, FIRST_FAMILY_BY_SMS)
    async with escalation_env(database_url, topic_root, clock, policies_file=policies,
                              contact_cap_per_window=2, contact_cap_window_seconds=600) as env, \
            device_client(topic_root, clock=clock) as dev:
        for i in range(1, 6):
            await dev.alarm(f"pendant-{i}", f"m-{i}", "sos")
        await env.changes.until(lambda: _capped(env, sent=2, waiting=3))
        assert len(env.sent(DAUGHTER, "Messages")) == 2

        await clock.advance(601)  # the window has moved past the first two
        await env.changes.until(lambda: _capped(env, sent=4, waiting=1))
        assert len(env.sent(DAUGHTER, "Messages")) == 4

        await clock.advance(601)
        await env.changes.until(lambda: _capped(env, sent=5, waiting=0))
        names = ["山田 花子", "住民 2", "住民 3", "住民 4", "住民 5"]
        bodies = _bodies(env)
        assert sorted(n for n in names for b in bodies if n in b) == sorted(names)
        assert len(env.sent(DAUGHTER, "Messages")) == 5


async def _open_with_sms(env: Env, dev: object, n: int) -> None:
    from tests.harness import DeviceSide

    assert isinstance(dev, DeviceSide)
    await dev.alarm(f"pendant-{n}", f"m-{n}", "sos")
    await env.until_fake(lambda f: len(env.sent(DAUGHTER, "Messages")) >= n)


async def _alerts(env: Env) -> dict[str, Alert]:
    return {a.resident_id or "": a for a in await env.rows(Alert)}


async def test_a_second_open_alert_for_the_same_contact_carries_a_short_code(
    database_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """With two open alerts a bare "1" acknowledges nothing and gets the codes back as help."""
    await seed_shared(database_url, n=2)
    policies = policies_file(tmp_path, FIRST_FAMILY_BY_SMS)
    async with escalation_env(database_url, topic_root, clock, policies_file=policies) as env, \
            device_client(topic_root, clock=clock) as dev:
        await _open_with_sms(env, dev, 1)
        await clock.advance(1)
        await _open_with_sms(env, dev, 2)
        first, second = _bodies(env)
        assert "は1、無理なら2を" in first  # alone when sent: no code needed
        assert "住民 2" in second and "は1B、無理なら2Bを" in second

        [reply] = await env.reply_sms(DAUGHTER, "1")
        assert "1A=山田 花子" in reply and "1B=住民 2" in reply
        assert {a.status for a in (await _alerts(env)).values()} == {"open"}


async def test_a_reply_naming_the_short_code_acknowledges_that_alert_only(
    database_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """"1A" acknowledges the first resident's alert; the second stays open and escalating."""
    await seed_shared(database_url, n=2)
    policies = policies_file(tmp_path, FIRST_FAMILY_BY_SMS)
    async with escalation_env(database_url, topic_root, clock, policies_file=policies) as env, \
            device_client(topic_root, clock=clock) as dev:
        await _open_with_sms(env, dev, 1)
        await clock.advance(1)
        await _open_with_sms(env, dev, 2)

        [reply] = await env.reply_sms(DAUGHTER, "１Ａ")  # full-width, as phones often type it
        assert "了解" in reply and "山田 花子" in reply
        alerts = await _alerts(env)
        assert (alerts["r-1"].status, alerts["r-1"].ack_channel) == ("acknowledged", "sms")
        assert alerts["r-2"].status == "open"


async def test_a_robot_replying_again_and_again_gets_at_most_three_answers_an_hour(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """An auto-responder texting five times gets three replies, then silence until the hour is over."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock) as env:
        answered = [await env.reply_sms(DAUGHTER, "自動応答: ただいま運転中です") for _ in range(5)]
        assert [len(r) for r in answered] == [1, 1, 1, 0, 0]
        assert "1=行けます" in answered[0][0]
        await clock.advance(3601)
        assert len(await env.reply_sms(DAUGHTER, "自動応答: ただいま運転中です")) == 1
        replies = await env.rows(NotificationAttempt, purpose=Purpose.REPLY.value)
        assert len(replies) == 4  # silence is not recorded as a sent reply
