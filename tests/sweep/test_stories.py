"""Stories: a disaster sweep of a handful of residents with the fake Twilio. One presses 1, one 9,
one never answers (their neighbour volunteer is asked and goes); those at risk are called first;
a restart in the middle carries on."""

from __future__ import annotations

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import Alert, AlertResponder, SweepEntry
from tests.escalation.env import Env, escalation_env
from tests.sweep import env as sweep_env
from tests.sweep.env import KANAZAWA, daughter, diagnosis, neighbour, phone, settled


async def _went(env: Env, alert_id: int) -> AlertResponder | None:
    rows = await env.rows(AlertResponder, alert_id=alert_id, state="accepted")
    return rows[0] if rows else None


async def test_a_sweep_settles_fine_help_and_not_reached(sqlite_url: str, topic_root: str,
                                                         clock: FakeClock) -> None:
    """Kanazawa only, oxygen first, two at once: 1 is fine, 9 opens a P1, two unanswered calls
    ask the neighbour volunteer, who accepts and is shown as having gone."""
    await sweep_env.seed(sqlite_url, 5, outside=(5,), at_risk=(4,), neighbours=(3,))
    async with escalation_env(sqlite_url, topic_root, clock, sweep_concurrent_calls=2) as env:
        for i, behaviour in ((1, {"press": "1"}), (2, {"press": "9"}), (3, {"call": "no-answer"}),
                             (4, {"press": "1"})):
            await env.control(f"/_fake/phones/{phone(i)}", behaviour)
        await env.control(f"/_fake/phones/{neighbour(3)}", {"press": "1"})
        sweep = await sweep_env.start(env, {"area_prefix": KANAZAWA})
        assert [r["resident_id"] for r in sweep["residents"]] == ["r-4", "r-1", "r-2", "r-3"]
        try:
            for resident_id, state in (("r-4", "fine"), ("r-1", "fine"), ("r-2", "help")):
                await env.changes.until(lambda r=resident_id, s=state: settled(env, r, s))
            await env.changes.until(lambda: _waiting_for_retry(env, "r-3"))
        except TimeoutError:
            raise AssertionError(await diagnosis(env)) from None
        first = env.fake.creates("Calls")[0]
        assert first.params["To"] == [phone(4)]
        [call_4] = [c for c in env.fake.calls.values() if c.to == phone(4)]
        assert "災害時の安否確認のご連絡です。" in call_4.spoken[0]
        help_alert = (await settled(env, "r-2", "help"))
        assert help_alert is not None and help_alert.alert_id is not None
        [alert_2] = await env.rows(Alert, id=help_alert.alert_id)
        assert (alert_2.type, alert_2.severity, alert_2.resident_id) == ("sweep_help", "P1", "r-2")

        await clock.advance(10 * 60)  # the retry
        row = await env.changes.until(lambda: settled(env, "r-3", "not_reached"))
        assert row.tries == 2 and len(env.sent(phone(3), "Calls")) == 2
        [alert_3] = await env.rows(Alert, id=row.alert_id)
        assert (alert_3.type, alert_3.severity) == ("sweep_unreached", "P2")
        assert await env.changes.until(lambda: _went(env, alert_3.id), within=10)
        assert env.sent(daughter(3), "Calls") == []  # the neighbour went: family not needed
        shown = await sweep_env.finished(env, sweep["id"])
        assert {k: v for k, v in shown["counts"].items() if v} == {
            "fine": 2, "help": 1, "not_reached": 1}
        [r3] = [r for r in shown["residents"] if r["resident_id"] == "r-3"]
        assert r3["responders"] == [{"name": "協力員 3", "relation": "neighbour",
                                     "state": "accepted"}]
        metrics = env.gateway.services.metrics
        assert metrics.sweep_answers.labels(state="fine")._value.get() == 2
        assert metrics.sweep_answers.labels(state="not_reached")._value.get() == 1


async def test_a_restart_mid_sweep_neither_repeats_nor_loses_a_call(
        sqlite_url: str, topic_root: str, clock: FakeClock) -> None:
    """The first call goes unanswered and the gateway restarts: the new one places the retry only,
    and the sweep finishes."""
    await sweep_env.seed(sqlite_url, 2)
    async with escalation_env(sqlite_url, topic_root, clock) as env:
        await env.control(f"/_fake/phones/{phone(1)}", {"call": "no-answer"})
        await env.control(f"/_fake/phones/{phone(2)}", {"press": "1"})
        sweep = await sweep_env.start(env, {})
        await env.changes.until(lambda: settled(env, "r-2", "fine"))
        await env.changes.until(lambda: _waiting_for_retry(env, "r-1"))
    async with escalation_env(sqlite_url, topic_root, clock) as env:
        await env.control(f"/_fake/phones/{phone(1)}", {"press": "1"})
        await clock.advance(10 * 60)
        row = await env.changes.until(lambda: settled(env, "r-1", "fine"))
        assert row.tries == 2 and len(env.sent(phone(1), "Calls")) == 1
        assert env.sent(phone(2), "Calls") == []
        await sweep_env.finished(env, sweep["id"])


async def _waiting_for_retry(env: Env, resident_id: str) -> SweepEntry | None:
    row = await sweep_env.entry(env, resident_id)
    return row if row.state == "waiting" and row.tries == 1 else None
