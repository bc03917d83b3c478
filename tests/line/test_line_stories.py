"""Stories: LINE buttons answer an alarm, a forged webhook is refused, a failed push is retried."""

from __future__ import annotations

from pathlib import Path

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import AlertStatus, AttemptStatus
from alert_gateway.line.fake_state import FakeLine
from tests.escalation.env import DAUGHTER
from tests.harness import device_client

from .env import ACCESS_TOKEN, DAUGHTER_LINE, SON_LINE, LineEnv, line_env, seed_line


async def _alarm(le: LineEnv, dev: object) -> int:
    await dev.watch_feedback()  # type: ignore[attr-defined]
    await dev.alarm("pendant-1", "m-1", "sos")  # type: ignore[attr-defined]
    alert = await le.env.changes.until(le.env.alert)
    assert alert is not None and alert.id is not None
    return alert.id


async def test_a_line_tap_accepts_and_everyone_hears_it_in_their_language(
        sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path) -> None:
    """The daughter taps 向かいます: acknowledged by LINE and thanked in Japanese; the son's tap is
    told in English who took it; 到着しました records her arrival; the neighbour without LINE is
    skipped with a timeline note."""
    await seed_line(sqlite_url)
    async with line_env(sqlite_url, topic_root, clock, tmp_path) as le, \
            device_client(topic_root, clock=clock) as dev:
        env = le.env
        alert_id = await _alarm(le, dev)
        pushed = await le.pushed(DAUGHTER_LINE)
        assert "山田 花子" in pushed.text, pushed
        assert [b["label"] for b in pushed.buttons] == ["向かいます", "行けません", "到着しました"]
        assert [b["label"] for b in (await le.pushed(SON_LINE)).buttons] == [
            "I'm going", "I can't", "I've arrived"]

        assert await le.tap(DAUGHTER_LINE, "向かいます") == [
            "了解しました。山田 花子さん宅へお願いします。ありがとうございます"]
        alert = await env.alert()
        assert alert is not None and (alert.ack_channel, alert.acknowledged_by) == (
            "line", "contact:1"), alert
        states = [(await dev.next_feedback())[1]["state"] for _ in range(3)]
        assert states == ["received", "acknowledged", "help_on_the_way"]

        [taken] = await le.tap(SON_LINE, "I'm going")
        assert taken.startswith("Already taken by 山田 京子 at"), taken
        assert await le.tap(DAUGHTER_LINE, "到着しました") == ["到着を記録しました。ありがとうございます"]
        timeline = [e.message for e in await env.timeline(alert_id)]
        assert "山田 京子 arrived" in timeline, timeline
        assert any("LINE skipped for 隣 太郎" in m for m in timeline), timeline
        # each tap is on the attempt, as a keypress is: both said "I'm going"
        line_rows = await env.attempts(channel="line")
        assert [a.status for a in line_rows] == [AttemptStatus.ACCEPTED] * 2


async def test_a_line_webhook_with_a_bad_signature_gets_403_and_changes_nothing(
        sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path) -> None:
    """The daughter's own accept button, posted unsigned or signed with another secret, is refused
    (403, counted) and the alert stays unacknowledged; signed by LINE it works."""
    await seed_line(sqlite_url)
    async with line_env(sqlite_url, topic_root, clock, tmp_path) as le, \
            device_client(topic_root, clock=clock) as dev:
        env = le.env
        await _alarm(le, dev)
        [accept, *_] = (await le.pushed(DAUGHTER_LINE)).buttons
        forger = FakeLine("not-the-channel-secret", ACCESS_TOKEN, le.line.webhook_url,
                          session=env.http)
        await forger.event(DAUGHTER_LINE, "postback", postback={"data": accept["data"]})
        async with env.http.post(env.settings.public_url + "/line/webhook", data=b'{"events":[]}',
                                 headers={"Content-Type": "application/json"}) as resp:
            unsigned = resp.status
        assert ([status for status, _ in forger.webhooks], unsigned) == ([403], 403)
        registry = env.gateway.services.metrics.registry
        assert registry.get_sample_value("alert_gateway_webhook_refused_total",
                                         {"reason": "bad_signature"}) == 1
        alert = await env.alert()
        assert alert is not None and alert.acknowledged_at is None
        await le.act(DAUGHTER_LINE, "tap", accept)
        alert = await env.alert()
        assert alert is not None and alert.acknowledged_by == "contact:1"


async def test_a_failed_line_push_never_holds_up_the_sms_or_call_and_is_retried(
        sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path) -> None:
    """LINE answers 500: the SMS and the call go out regardless; the push is retried after its
    backoff and reaches each account once."""
    await seed_line(sqlite_url)
    async with line_env(sqlite_url, topic_root, clock, tmp_path) as le, \
            device_client(topic_root, clock=clock) as dev:
        env = le.env
        await env.control_at(le.line_url, "/_fake/line/fail", {"status": 500, "count": 2})
        await _alarm(le, dev)
        await env.until_fake(lambda f: env.sent(DAUGHTER, "Calls") and env.sent(DAUGHTER, "Messages"))

        async def retried() -> bool:
            rows = await env.attempts(channel="line")
            return len(rows) == 2 and all(a.status == AttemptStatus.PENDING for a in rows)

        await env.changes.until(retried)
        await clock.advance(2)  # the first backoff

        async def delivered() -> list[tuple[int, str]] | None:
            rows = [(a.retries, a.status) for a in await env.attempts(channel="line")]
            return rows if all(status == AttemptStatus.DELIVERED for _, status in rows) else None

        assert await env.changes.until(delivered) == [(1, AttemptStatus.DELIVERED)] * 2
        assert len(le.line.from_bot(DAUGHTER_LINE)) == len(le.line.from_bot(SON_LINE)) == 1
        alert = await env.alert()
        assert alert is not None and alert.status == AlertStatus.OPEN
