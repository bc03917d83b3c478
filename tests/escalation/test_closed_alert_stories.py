"""Stories: once an alert is closed nobody is called about it, and a call still ringing is hung up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from alert_gateway.bus import AlertChange, ChangeKind
from alert_gateway.clock import FakeClock
from alert_gateway.db.models import Alert, Escalation, NotificationAttempt, Purpose
from alert_gateway.metrics import Metrics
from alert_gateway.twilio.client import TwilioSender
from alert_gateway.twilio.twiml import alert_call_twiml
from tests.harness import device_client

from .env import DAUGHTER, SON, Env, escalation_env, policies_file, seed
from .test_closing import attempt
from .test_delivery import BY_SMS


async def _timeline_says(env: Env, alert_id: int, text: str) -> bool:
    return any(text in e.message for e in await env.timeline(alert_id))


async def _attempt_status(env: Env, attempt_id: int | None, *statuses: str) -> bool:
    [row] = await env.attempts(id=attempt_id)
    return row.status in statuses


async def _resolve(env: Env, alert_id: int) -> None:
    """The operator resolves the alert through the REST API."""
    token = await env.api_token()
    await env.api_post(token, f"/alerts/{alert_id}/resolve", {"outcome": "accidental"})


async def _call_to(env: Env, number: str) -> NotificationAttempt | None:
    calls = [a for a in await env.attempts(to_number=number, channel="voice") if a.provider_sid]
    return calls[0] if calls else None


async def test_the_dispatcher_never_sends_or_recovers_attempts_of_a_closed_alert(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """A pending call and an expired lease of a resolved alert are voided; its summary still goes."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock) as env:
        now = clock.now()
        pending = attempt(0, now, to=SON, channel="voice", status="pending")
        leased = attempt(0, now, to=SON, channel="sms", status="sending")
        leased.deadline_at = now - timedelta(seconds=1)  # a dead gateway's lease, run out
        summary = attempt(0, now, to=DAUGHTER, channel="sms", status="pending",
                          purpose=Purpose.SUMMARY)
        alert_id = await _closed_alert(env, pending, leased, summary)
        await env.gateway.services.bus.publish(AlertChange(alert_id, ChangeKind.NOTE))  # pokes the dispatcher
        await env.until_fake(lambda f: env.sent(DAUGHTER, "Messages"))
        await clock.advance(1)  # housekeeping (lease recovery) runs at most once a second
        await env.changes.until(lambda: _attempt_status(env, leased.id, "canceled"))
        assert await _attempt_status(env, pending.id, "canceled")
        assert await _timeline_says(env, alert_id, "was not sent")
        assert env.sent(SON, "Calls") == [] and env.sent(SON, "Messages") == []


async def _closed_alert(env: Env, *rows: NotificationAttempt) -> int:
    """A resolved alert of r-1 with the given outbox rows (alert_id filled in)."""
    now = env.clock.now()
    async with env.gateway.services.sessions() as s:
        alert = Alert(resident_id="r-1", device_id="pendant-1", type="sos", severity="P1",
                      status="resolved", outcome="accidental", opened_at=now, updated_at=now,
                      resolved_at=now)
        s.add(alert)
        await s.flush()
        assert alert.id is not None
        s.add(Escalation(alert_id=alert.id, policy="default", severity_rank=1, state="stopped",
                         started_at=now, updated_at=now))
        for row in rows:
            row.alert_id = alert.id
        s.add_all(rows)
        await s.commit()
        return alert.id


async def _left_ringing(env: Env, to: str = DAUGHTER,
                        due_in: int = 1) -> tuple[str, NotificationAttempt, int]:
    """A call ringing at `to` whose row a dead gateway left HANGING_UP, due in `due_in` seconds:
    (its sid, the row, the closed alert's id)."""
    await env.control(f"/_fake/phones/{to}", {"call": "ring"})
    sender = TwilioSender(env.settings, Metrics())
    await sender.start()
    try:
        placed = await sender.place_call(
            to=to, twiml=alert_call_twiml(text="緊急", language="ja-JP", action_url="/x",
                                          repeat_text="", goodbye_text=""),
            status_callback=env.settings.public_url + "/twilio/voice/status?attempt=1",
            amd_callback=env.settings.public_url + "/twilio/voice/amd?attempt=1")
    finally:
        await sender.close()
    await env.until_fake(lambda f: f.calls[placed.sid].status == "ringing")
    row = attempt(0, env.clock.now(), to=to, channel="voice", status="hanging_up",
                  sid=placed.sid)
    # due at a later housekeeping second, not now: a dispatcher whose first cycle is late (a
    # loaded machine) must not hang it up before the test has scripted Twilio's answer
    row.deadline_at = env.clock.now() + timedelta(seconds=due_in)
    alert_id = await _closed_alert(env, row)
    # the dead gateway's closing was announced (LISTEN/NOTIFY between replicas) before it died:
    # this gateway's dispatcher learns of the row's due time from the database, nothing more
    await env.gateway.services.bus.publish(AlertChange(alert_id, ChangeKind.NOTE))
    return placed.sid, row, alert_id


def _hang_ups(env: Env, sid: str) -> list[tuple[list[str], int | None]]:
    return [(r.params["Status"], r.status) for r in env.fake.api_requests("Calls")
            if r.url.endswith(f"/Calls/{sid}.json") and r.method == "POST"]


async def test_a_call_left_to_hang_up_by_a_previous_process_is_hung_up(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """The database says a call about a closed alert is still to be hung up (its gateway died):
    this gateway's housekeeping hangs it up, with nothing about it in memory."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock) as env:
        sid, row, alert_id = await _left_ringing(env)
        await clock.advance(1)  # the dispatcher's housekeeping second
        async with _explained(env, row.id, sid):
            await env.until_fake(lambda f: f.calls[sid].finished)
            assert env.fake.calls[sid].hung_up == "canceled"
            await env.changes.until(
                lambda: _timeline_says(env, alert_id, "call hung up: alert closed"))
        assert await _attempt_status(env, row.id, "canceled")


async def test_a_hang_up_twilio_fails_is_tried_again_after_a_backoff(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """Twilio answers the first hang-up with 503: the row stays to be hung up, and two seconds
    later the next try ends the call."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock) as env:
        sid, row, alert_id = await _left_ringing(env)
        await env.control("/_fake/fail", {"status": 503, "count": 1})
        await clock.advance(1)  # the dispatcher's housekeeping second
        async with _explained(env, row.id, sid):
            await env.until_fake(lambda f: _hang_ups(env, sid) == [(["canceled"], 503)])
            await env.changes.until(lambda: _retried(env, row.id))
        assert not env.fake.calls[sid].finished
        await clock.advance(2)  # the backoff after one failure
        async with _explained(env, row.id, sid):
            await env.until_fake(lambda f: f.calls[sid].finished)
        assert _hang_ups(env, sid) == [(["canceled"], 503), (["canceled"], 200)]
        await env.changes.until(lambda: _timeline_says(env, alert_id, "call hung up: alert closed"))


async def test_a_call_due_while_another_is_being_hung_up_is_hung_up_when_that_one_ends(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """Twilio holds the first hang-up; the second call falls due at the next housekeeping second,
    while the first is still held: it is hung up as soon as the first hang-up ends, not at a
    later housekeeping second (which the fake clock never reaches)."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock) as env:
        first, first_row, _ = await _left_ringing(env, DAUGHTER, due_in=1)
        second, second_row, alert_id = await _left_ringing(env, SON, due_in=2)
        await env.control("/_fake/fail", {"delay": 2, "count": 1})  # held 2 s (real), then served
        await clock.advance(1)
        async with _explained(env, first_row.id, first):  # the first hang-up, held by Twilio
            await env.until_fake(lambda f: _hang_ups(env, first) == [(["canceled"], None)])
        await clock.advance(1)  # the second falls due while the first hang-up runs
        async with _explained(env, second_row.id, second):
            await env.until_fake(lambda f: f.calls[second].finished)
            await env.changes.until(
                lambda: _timeline_says(env, alert_id, "call hung up: alert closed"))
        assert env.fake.calls[first].hung_up == env.fake.calls[second].hung_up == "canceled"


@asynccontextmanager
async def _explained(env: Env, attempt_id: int | None, sid: str) -> AsyncIterator[None]:
    """A wait that runs out says where the hang-up stood: the row, the requests, the fake call."""
    try:
        yield
    except TimeoutError:
        [row] = await env.attempts(id=attempt_id)
        call = env.fake.calls[sid]
        raise AssertionError(
            f"attempt {attempt_id}: status={row.status} retries={row.retries} error={row.error!r} "
            f"deadline={row.deadline_at} clock={env.clock.now()}; hang-up requests "
            f"{_hang_ups(env, sid)}; fake call status={call.status} hung_up={call.hung_up} "
            f"finished={call.finished}") from None


async def _retried(env: Env, attempt_id: int | None) -> bool:
    [row] = await env.attempts(id=attempt_id)
    return row.status == "hanging_up" and row.retries == 1


async def test_a_ringing_call_is_hung_up_when_the_operator_resolves(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """The daughter's phone rings on; the alert is resolved: Twilio is asked to cancel the call,
    the call ends, the timeline says so, and her summary SMS still goes out."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control(f"/_fake/phones/{DAUGHTER}", {"call": "ring"})
        await dev.alarm("pendant-1", "m-1", "sos")
        await env.until_fake(lambda f: any(c.status == "ringing" for c in f.calls.values()))
        call = await env.changes.until(lambda: _call_to(env, DAUGHTER))
        alert = await env.changes.until(env.alert)
        assert alert is not None and alert.id is not None
        await _resolve(env, alert.id)  # at once: the fake clock stands still from here on
        fake_call = env.fake.calls[str(call.provider_sid)]
        await env.until_fake(lambda f: fake_call.finished)
        assert (fake_call.hung_up, fake_call.status) == ("canceled", "canceled")
        hang_ups = [r for r in env.fake.api_requests("Calls")
                    if r.url.endswith(f"/Calls/{call.provider_sid}.json") and r.method == "POST"]
        assert [r.params["Status"] for r in hang_ups] == [["canceled"]]
        await env.changes.until(lambda: _timeline_says(env, alert.id or 0, "call hung up: alert closed"))
        assert await _attempt_status(env, call.id, "canceled")
        metrics = env.gateway.services.metrics.registry
        assert metrics.get_sample_value("alert_gateway_calls_hung_up_total",
                                        {"result": "hung_up"}) == 1
        await env.until_fake(lambda f: len(env.sent(DAUGHTER, "Messages")) == 2)  # the summary
        assert len(env.sent(DAUGHTER, "Calls")) == 1 and env.sent(SON, "Calls") == []


async def test_a_call_placed_while_the_alert_was_closing_is_hung_up(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """Twilio holds the call and SMS requests; the alert is resolved meanwhile: when the answers
    come both attempts stay voided with their sids, and the call placed is hung up."""
    await seed(database_url)
    # the sender must outwait the held requests: they are released only after the resolve
    async with escalation_env(database_url, topic_root, clock, twilio_timeout_seconds=10.0) as env, \
            device_client(topic_root, clock=clock) as dev:
        token = await env.api_token()
        await env.control(f"/_fake/phones/{DAUGHTER}", {"call": "ring"})
        await env.control("/_fake/fail", {"hold": True, "count": 2})  # the call and the SMS
        await dev.alarm("pendant-1", "m-1", "sos")
        await env.until_fake(lambda f: len(f.held) == 2)
        alert = await env.changes.until(env.alert)
        assert alert is not None and alert.id is not None
        await env.api_post(token, f"/alerts/{alert.id}/resolve", {"outcome": "accidental"})
        timeline = [e.message for e in await env.timeline(alert.id)]
        assert "alert closed: 2 escalation message(s) not sent" in timeline, "\n".join(timeline)
        await env.control("/_fake/release", {"count": 2})
        call = await env.changes.until(lambda: _call_to(env, DAUGHTER))
        # HANGING_UP may pass at once: the late answer pokes the dispatcher's hang-ups
        await env.changes.until(lambda: _attempt_status(env, call.id, "hanging_up", "canceled"))
        await clock.advance(1)  # the dispatcher's housekeeping second
        fake_call = env.fake.calls[str(call.provider_sid)]
        await env.until_fake(lambda f: fake_call.finished)
        assert fake_call.hung_up == "canceled"
        await env.changes.until(lambda: _attempt_status(env, call.id, "canceled"))
        [sms] = [a for a in await env.attempts(to_number=DAUGHTER, channel="sms")
                 if a.purpose == Purpose.ALERT.value]
        assert sms.status == "canceled" and sms.provider_sid is not None  # sent, cannot be recalled
        assert len(env.sent(DAUGHTER, "Calls")) == 1 and env.sent(SON, "Calls") == []


async def test_a_claimed_send_waiting_for_a_slot_is_dropped_when_its_alert_closes(
    database_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """One send slot, held by a stalled request: the second alarm's claimed SMS waits for it, its
    alert is resolved meanwhile, and only the third alarm's SMS follows the stalled one."""
    await seed(database_url, n=3)
    daughter = {i: f"+8190222{i:04d}" for i in (1, 2, 3)}
    async with escalation_env(database_url, topic_root, clock, send_concurrency=1,
                              policies_file=policies_file(tmp_path, BY_SMS)) as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control("/_fake/fail", {"hold": True, "count": 1})  # until released below
        await dev.alarm("pendant-1", "m-1", "sos")
        await env.until_fake(lambda f: f.held and any(r.params.get("To") == [daughter[1]]
                                                      for r in f.api_requests("Messages")))
        await dev.alarm("pendant-2", "m-2", "sos")

        def claimed_for(i: int) -> Callable[[], Awaitable[NotificationAttempt | None]]:
            async def claimed() -> NotificationAttempt | None:
                rows = await env.attempts(to_number=daughter[i], status="sending")
                return rows[0] if rows else None
            return claimed

        held = await env.changes.until(claimed_for(2))
        assert held.alert_id is not None
        await _resolve(env, held.alert_id)
        await dev.alarm("pendant-3", "m-3", "sos")  # queued behind alert 2's send, if it were kept
        await env.changes.until(claimed_for(3))
        await env.control("/_fake/release")  # the slot frees only now, long after alert 2 closed
        await env.until_fake(lambda f: any(r.params.get("To") == [daughter[3]]
                                           for r in f.api_requests("Messages")))
        to = [r.params.get("To") for r in env.fake.api_requests("Messages")]
        assert [daughter[2]] not in to, to
        [row] = await env.attempts(id=held.id)
        assert row.status == "canceled" and row.provider_sid is None, row
