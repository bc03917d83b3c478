"""Alarm rules applied by the batch store: duplicates, grouping, severity, restore, skew, cancel."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import SessionFactory
from alert_gateway.db.models import Alert, AlertEvent, Device, Escalation, InboundMessage, Resident
from alert_gateway.ingest.batch import BatchResult
from alert_gateway.ingest.parse import Incoming, parse_message
from alert_gateway.ingest.store import store_batch
from devices.contract import Topics

TOPICS = Topics()


def _msg(clock: FakeClock, device: str, channel: str, body: str) -> Incoming:
    item = parse_message(
        f"{TOPICS.root}/{device}/{channel}",
        body.encode(),
        topics=TOPICS,
        max_bytes=4096,
        received_at=clock.now(),
    )
    assert isinstance(item, Incoming), item
    return item


def alarm(
    clock: FakeClock,
    device: str,
    msg_id: str,
    kind: str = "sos",
    qualifier: str = "new",
    ts: str | None = None,
) -> Incoming:
    """An alarm as it arrives from the broker."""
    stamp = ts or clock.now().isoformat()
    body = f'{{"id": "{msg_id}", "type": "{kind}", "ts": "{stamp}", "qualifier": "{qualifier}"}}'
    return _msg(clock, device, "alarm", body)


async def _store(sessions: SessionFactory, clock: FakeClock, *items: Incoming) -> BatchResult:
    async with sessions() as s:
        result = await store_batch(
            s,
            list(items),
            now=clock.now(),
            skew_limit=300,
            cancel_min_seconds=5,
            cancel_grace_seconds=300,
        )
        await s.commit()
    return result


async def _seed(sessions: SessionFactory) -> None:
    async with sessions() as s:
        s.add(Resident(id="r-1", name="山田 花子"))
        await s.flush()
        s.add_all(
            [
                Device(id="pendant-1", resident_id="r-1"),
                Device(id="hub-1", resident_id="r-1"),
                Device(id="smoke-1", resident_id="r-1", kind="smoke_detector"),
            ]
        )
        await s.commit()


async def _alerts(sessions: SessionFactory) -> list[Alert]:
    async with sessions() as s:
        return list((await s.exec(select(Alert).order_by(Alert.id))).all())


async def test_same_alarm_twice_in_one_batch_and_later_opens_one_alert(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Repeats and broker redeliveries of one (device, id) open one alert; each repeat is re-acknowledged."""
    await _seed(sessions)
    first = await _store(sessions, clock, alarm(clock, "pendant-1", "a1"), alarm(clock, "pendant-1", "a1"))
    again = await _store(sessions, clock, alarm(clock, "pendant-1", "a1"))
    [alert] = await _alerts(sessions)
    assert len(first.receipts) == 2 and again.receipts[0].alert_id == alert.id
    assert again.outcomes[("alarm", "duplicate")] == 1
    async with sessions() as s:
        assert len((await s.exec(select(InboundMessage))).all()) == 1


async def test_second_alarm_for_resident_attaches_and_raises_severity(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A more urgent alarm joins the resident's open alert, raising it instead of a second escalation."""
    await _seed(sessions)
    await _store(sessions, clock, alarm(clock, "hub-1", "b1", "low_battery"))
    await clock.advance(60)
    await _store(sessions, clock, alarm(clock, "smoke-1", "s1", "smoke"))
    [alert] = await _alerts(sessions)
    assert (alert.type, alert.severity) == ("smoke", "P1")
    async with sessions() as s:
        kinds = [e.kind for e in (await s.exec(select(AlertEvent).order_by(AlertEvent.id))).all()]
        escalation = await s.get(Escalation, alert.id)
    assert kinds == ["opened", "alarm", "severity_raised"]
    assert escalation is not None and escalation.severity_rank == 1 and escalation.step_index == 0


async def test_restore_closes_a_p3_but_never_a_p1(sessions: SessionFactory, clock: FakeClock) -> None:
    """Mains restored closes a power-failure alert by itself; a smoke restore leaves the P1 open."""
    await _seed(sessions)
    await _store(sessions, clock, alarm(clock, "hub-1", "p1", "power_failure"))
    await _store(sessions, clock, alarm(clock, "hub-1", "p2", "power_failure", qualifier="restore"))
    [closed] = await _alerts(sessions)
    assert (closed.status, closed.outcome) == ("resolved", "restored")
    await _store(sessions, clock, alarm(clock, "smoke-1", "s1", "smoke"))
    await _store(sessions, clock, alarm(clock, "smoke-1", "s2", "smoke", qualifier="restore"))
    smoke = (await _alerts(sessions))[-1]
    assert (smoke.type, smoke.status) == ("smoke", "open")


async def test_unregistered_device_alarm_opens_an_alert_marked_unregistered(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """An alarm from a device nobody registered still reaches the dispatch console."""
    await _store(sessions, clock, alarm(clock, "stranger-1", "z1"))
    [alert] = await _alerts(sessions)
    assert alert.unregistered and alert.resident_id is None and alert.device_id == "stranger-1"


async def test_device_clock_more_than_five_minutes_off_is_flagged(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Receipt time is kept as the measure; the skew is flagged on the alert."""
    await _seed(sessions)
    late = (clock.now() - timedelta(minutes=7)).isoformat()
    await _store(sessions, clock, alarm(clock, "pendant-1", "k1", ts=late))
    [alert] = await _alerts(sessions)
    assert alert.clock_skew_seconds == -420 and alert.opened_at == clock.now()


async def test_test_signal_is_logged_and_never_escalated(sessions: SessionFactory, clock: FakeClock) -> None:
    """A test press is on record (closed as test) with no escalation, and the device's last test is set."""
    await _seed(sessions)
    await _store(sessions, clock, alarm(clock, "pendant-1", "t1", "test"))
    [alert] = await _alerts(sessions)
    async with sessions() as s:
        assert await s.get(Escalation, alert.id) is None
        device = await s.get(Device, "pendant-1")
    assert (alert.status, alert.outcome) == ("resolved", "test")
    assert device is not None and device.last_test_at == clock.now()


async def test_cancel_is_honoured_after_five_seconds_but_never_for_smoke(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """The resident's cancel stops escalation after 5 s; too early or on a fire type it is refused."""
    await _seed(sessions)
    await _store(sessions, clock, alarm(clock, "pendant-1", "a1"))
    cancel = '{{"id": "{}", "alarm_id": "a1", "ts": "{}"}}'
    early = await _store(
        sessions,
        clock,
        _msg(clock, "pendant-1", "cancel", cancel.format("c0", clock.now().isoformat())),
    )
    await clock.advance(10)
    ok = await _store(
        sessions,
        clock,
        _msg(clock, "pendant-1", "cancel", cancel.format("c1", clock.now().isoformat())),
    )
    assert early.outcomes[("cancel", "refused")] == 1 and ok.outcomes[("cancel", "accepted")] == 1
    [alert] = await _alerts(sessions)
    async with sessions() as s:
        escalation = await s.get(Escalation, alert.id)
    assert alert.status == "cancelled" and escalation is not None and escalation.state == "stopped"
    await _store(sessions, clock, alarm(clock, "smoke-1", "s1", "smoke"))
    await clock.advance(10)
    refused = await _store(
        sessions,
        clock,
        _msg(
            clock,
            "smoke-1",
            "cancel",
            cancel.format("c2", clock.now().isoformat()).replace('"a1"', '"s1"'),
        ),
    )
    assert refused.outcomes[("cancel", "refused")] == 1


async def test_fall_guard_ends_on_a_pendant_press_but_not_on_a_technical_signal(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """During the fall guard a low-battery report changes nothing; a pendant press sends at once."""
    await _seed(sessions)
    await _store(sessions, clock, alarm(clock, "pendant-1", "f1", "fall"))
    [alert] = await _alerts(sessions)
    async with sessions() as s:
        escalation = await s.get(Escalation, alert.id)
        assert escalation is not None
        escalation.state, escalation.next_due_at = "guard", clock.now() + timedelta(seconds=30)
        await s.commit()
    await _store(sessions, clock, alarm(clock, "hub-1", "b1", "low_battery"))
    async with sessions() as s:
        assert (await s.get(Escalation, alert.id)).state == "guard"  # type: ignore[union-attr]
    await _store(sessions, clock, alarm(clock, "pendant-1", "s1", "sos"))
    async with sessions() as s:
        escalation = await s.get(Escalation, alert.id)
    assert escalation is not None and (escalation.state, escalation.next_due_at) == ("running", clock.now())
