"""Stories: a gateway restarted between steps, and two replicas on PostgreSQL sharing 200 alerts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from aiohttp.test_utils import TestServer

from alert_gateway.bus import AlertChange, ChangeKind
from alert_gateway.clock import FakeClock
from alert_gateway.db.models import Alert, AlertEvent, NotificationAttempt, Purpose
from alert_gateway.escalation import hooks
from alert_gateway.twilio.fake_server import fake_of, make_fake_twilio_app
from tests.harness import device_client, gateway_settings, running_gateway

from .env import ACCOUNT_SID, AUTH_TOKEN, DAUGHTER, GATEWAY_NUMBER, SON, escalation_env, seed

REPLICA_B_NUMBER = "+815011113333"
SMS_ONLY = """
[[policy]]
name = "default"
redial = false
  [[policy.step]]
  targets = ["family:1"]
  channels = ["sms"]
  wait_seconds = 60
  [[policy.step]]
  targets = ["family:2"]
  channels = ["sms"]
  wait_seconds = 60
"""


async def test_restart_between_steps_skips_nothing_and_repeats_nothing(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """The gateway stops after step 1; a new one (new process state) runs step 2 once, on time."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control(f"/_fake/phones/{DAUGHTER}", {"call": "no-answer"})
        await dev.alarm("pendant-1", "m-1", "sos")
        await env.until_fake(lambda f: env.sent(DAUGHTER, "Calls") and env.sent(DAUGHTER, "Messages")
                                and all(c.finished for c in f.calls.values()))
        await env.changes.until(lambda: _has(env, dial_no=2))  # re-dial queued, not yet due
    await clock.advance(60)  # the re-dial falls due while no gateway runs
    async with escalation_env(database_url, topic_root, clock) as env2:
        await env2.control(f"/_fake/phones/{DAUGHTER}", {"call": "no-answer"})
        await env2.until_fake(lambda f: len(env2.sent(DAUGHTER, "Calls")) == 1)
        assert env2.sent(DAUGHTER, "Messages") == []  # the SMS is not repeated
        assert env2.sent(SON, "Calls") == []
        await clock.advance(31)
        await env2.until_fake(lambda f: env2.sent(SON, "Calls") and env2.sent(SON, "Messages"))
        rows = await env2.attempts(purpose=Purpose.ALERT.value)
        assert Counter((a.to_number, a.channel, a.dial_no) for a in rows) == Counter({
            (DAUGHTER, "voice", 1): 1, (DAUGHTER, "sms", 1): 1, (DAUGHTER, "voice", 2): 1,
            (SON, "voice", 1): 1, (SON, "sms", 1): 1})


async def _has(env: object, **where: object) -> bool:
    from .env import Env

    assert isinstance(env, Env)
    return bool(await env.attempts(**where))


async def test_two_replicas_share_200_alerts_and_send_each_step_once(
    pg_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """Two engines on one PostgreSQL share 200 alerts: each sends some, every step exactly once."""
    n = 200
    await seed(pg_url, n=n)
    policies = tmp_path / "policies.toml"
    policies.write_text(SMS_ONLY)
    app = make_fake_twilio_app(auth_token=AUTH_TOKEN, account_sid=ACCOUNT_SID)
    async with TestServer(app) as server:
        fake = fake_of(app)
        base = dict(twilio_api_base=str(server.make_url("")).rstrip("/"),
                    twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
                    policies_file=policies,
                    public_url="http://127.0.0.1:9", send_rate_per_second=1000.0)
        # Each replica sends from its own number, so the fake shows who did the work.
        a_settings = gateway_settings(pg_url, topic_root, twilio_from_number=GATEWAY_NUMBER, **base)
        b_settings = gateway_settings(pg_url, topic_root, twilio_from_number=REPLICA_B_NUMBER,
                                      **base)
        async with running_gateway(a_settings, clock=clock, schema=False) as (a, changes), \
                running_gateway(b_settings, clock=clock, schema=False) as (b, _):
            now = clock.now()
            async with a.services.sessions() as s:
                alerts = [Alert(resident_id=f"r-{i}", device_id=f"pendant-{i}", type="sos",
                                severity="P1", opened_at=now, updated_at=now)
                          for i in range(1, n + 1)]
                s.add_all(alerts)
                await s.flush()
                s.add_all([hooks.new_escalation(al, now=now) for al in alerts])
                await s.commit()
            for gw in (a, b):
                await gw.services.bus.publish(AlertChange(alerts[0].id or 0, ChangeKind.OPENED))
            await fake.wait_for(lambda f: len(f.creates("Messages")) >= n, timeout=60)
            # Jumping the clock past a send's lease while its answer is still being recorded
            # would let the other replica take it back and send it again (as after a crash).
            await changes.until(lambda: _nothing_sending(a))
            await clock.advance(61)
            await fake.wait_for(lambda f: len(f.creates("Messages")) >= 2 * n, timeout=60)
            await changes.until(lambda: _nothing_sending(a))
            await clock.advance(61)
            await changes.until(lambda: _settled(a))
            per_number = Counter(r.params["To"][0] for r in fake.creates("Messages"))
            assert len(per_number) == 2 * n and set(per_number.values()) == {1}
            async with a.services.sessions() as s:
                from sqlmodel import func, select

                exhausted = (await s.exec(select(func.count()).select_from(AlertEvent)
                                          .where(AlertEvent.kind == "exhausted"))).one()
            assert exhausted == n  # every alert ran both steps and ended once
            per_replica = Counter(r.params["From"][0] for r in fake.creates("Messages"))
            assert set(per_replica) == {GATEWAY_NUMBER, REPLICA_B_NUMBER}  # both sent some


async def _settled(gw: object) -> bool:
    from sqlmodel import col, func, select

    async with gw.services.sessions() as s:  # type: ignore[attr-defined]
        busy = (await s.exec(select(func.count()).select_from(NotificationAttempt).where(
            col(NotificationAttempt.status).in_(["pending", "sending"])))).one()
        ended = (await s.exec(select(func.count()).select_from(AlertEvent).where(
            AlertEvent.kind == "exhausted"))).one()
    return not busy and ended >= 200


async def _nothing_sending(gw: object) -> bool:
    from sqlmodel import col, func, select

    async with gw.services.sessions() as s:  # type: ignore[attr-defined]
        sending = (await s.exec(select(func.count()).select_from(NotificationAttempt).where(
            col(NotificationAttempt.status) == "sending"))).one()
    return not sending
