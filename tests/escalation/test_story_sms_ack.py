"""Story: a pendant at 03:00, the daughter does not answer, the son replies "1" by SMS."""

from __future__ import annotations

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import EscalationState, Purpose
from tests.harness import device_client

from .env import DAUGHTER, SON, escalation_env, seed


async def test_pendant_escalates_to_second_contact_who_acknowledges_by_sms(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """No answer from the first contact moves on to the second; their "1" stops everything."""
    await seed(database_url)  # the resident has no phone of her own: contacts come first
    async with escalation_env(database_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control(f"/_fake/phones/{DAUGHTER}", {"call": "no-answer"})
        await dev.watch_feedback()
        await dev.alarm("pendant-1", "m-1", "sos")

        # The daughter is called and texted within moments of the alarm.
        await env.until_fake(lambda f: env.sent(DAUGHTER, "Calls") and env.sent(DAUGHTER, "Messages"))
        [sms] = env.sent(DAUGHTER, "Messages")
        assert "山田 花子" in sms.params["Body"][0] and "1" in sms.params["Body"][0]
        # Her call is not answered: one re-dial within the step, after the policy's delay.
        await env.until_fake(lambda f: any(c.finished for c in f.calls.values()))
        alert = await env.changes.until(env.alert)
        assert alert is not None and alert.id is not None
        await env.changes.until(lambda: _redial_queued(env))
        await clock.advance(60)
        await env.until_fake(lambda f: len(env.sent(DAUGHTER, "Calls")) == 2
                             and all(c.finished for c in f.calls.values()))
        assert env.sent(SON, "Calls") == []

        # Her step runs out: the son is called and texted.
        await clock.advance(31)
        await env.until_fake(lambda f: env.sent(SON, "Calls") and env.sent(SON, "Messages"))

        replies = await env.reply_sms(SON, "1")
        assert replies and "了解" in replies[0]

        esc = await env.changes.until(lambda: _watching(env, alert.id))
        assert esc.next_due_at is not None
        # The daughter hears who took it; the device hears help is coming.
        await env.until_fake(lambda f: any("一郎" in r.params["Body"][0]
                                              for r in env.sent(DAUGHTER, "Messages")))
        states = [await dev.next_feedback() for _ in range(3)]
        assert [s["state"] for _, s in states] == ["received", "acknowledged", "help_on_the_way"]

        # Nothing more goes out for this alert, however long we wait.
        calls = len(env.fake.creates("Calls"))
        await clock.advance(600)
        await env.changes.until(lambda: _engine_idle(env))
        assert len(env.fake.creates("Calls")) == calls
        alerts = [a for a in await env.attempts(purpose=Purpose.ALERT.value)]
        assert [(a.to_number, a.channel, a.dial_no) for a in alerts] == [
            (DAUGHTER, "voice", 1), (DAUGHTER, "sms", 1), (DAUGHTER, "voice", 2),
            (SON, "voice", 1), (SON, "sms", 1)]

        kinds = [e.kind for e in await env.timeline(alert.id)]
        assert kinds[0] == "opened" and "acknowledged" in kinds and "notification" in kinds
        acknowledged = await env.alert()
        assert acknowledged is not None
        assert (acknowledged.status, acknowledged.ack_channel) == ("acknowledged", "sms")


async def _redial_queued(env: object) -> bool:
    from .env import Env

    assert isinstance(env, Env)
    return any(a.dial_no == 2 for a in await env.attempts())


async def _watching(env: object, alert_id: int) -> object:
    from .env import Env

    assert isinstance(env, Env)
    esc = await env.escalation(alert_id)
    return esc if esc.state == EscalationState.WATCHING.value else None


async def _engine_idle(env: object) -> bool:
    from .env import Env

    assert isinstance(env, Env)
    return not [a for a in await env.attempts() if a.status in ("pending", "sending")]
