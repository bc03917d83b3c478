"""A storm's batch stores exactly what the same messages stored one by one would, in few round trips."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlmodel import col, select

from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import SessionFactory
from alert_gateway.db.models import (
    Alert,
    AlertEvent,
    Device,
    Escalation,
    InboundMessage,
    RejectedMessage,
    Resident,
)
from alert_gateway.ingest.batch import BatchResult
from alert_gateway.ingest.parse import Incoming, Rejection, parse_message
from alert_gateway.ingest.store import store_batch
from devices.contract import Topics

TOPICS = Topics()
Item = Incoming | Rejection


def _raw(clock: FakeClock, device: str, channel: str, body: str) -> Item:
    return parse_message(f"{TOPICS.root}/{device}/{channel}", body.encode(), topics=TOPICS,
                         max_bytes=4096, received_at=clock.now())


def _alarm(clock: FakeClock, device: str, msg_id: str, kind: str = "sos", *, qualifier: str = "new",
           late_minutes: int = 0, battery: int | None = None) -> Item:
    ts = (clock.now() - timedelta(minutes=late_minutes)).isoformat()
    extra = f', "battery": {battery}' if battery is not None else ""
    body = f'{{"id": "{msg_id}", "type": "{kind}", "ts": "{ts}", "qualifier": "{qualifier}"{extra}}}'
    return _raw(clock, device, "alarm", body)


def _cancel(clock: FakeClock, device: str, msg_id: str, alarm_id: str) -> Item:
    body = f'{{"id": "{msg_id}", "alarm_id": "{alarm_id}", "ts": "{clock.now().isoformat()}"}}'
    return _raw(clock, device, "cancel", body)


def _storm(clock: FakeClock, p: str) -> list[Item]:
    """Many residents at once, with every rule a batch must apply in order (devices prefixed `p`)."""
    items = [_alarm(clock, f"{p}dev{i}", f"m{i}") for i in range(10, 40)]  # the bulk: distinct residents
    items += [
        _alarm(clock, f"{p}dev1", "m1"),
        _alarm(clock, f"{p}dev1", "m1"),  # repeat inside the batch
        _alarm(clock, f"{p}dev0", "m0"),  # repeat of an alarm stored before
        _alarm(clock, f"{p}stranger", "u1"),  # unregistered device
        _alarm(clock, f"{p}hub1", "h1", "smoke"),  # joins dev1's new alert and raises it
        _alarm(clock, f"{p}dev2", "f1", "fall"),  # opens in its guard ...
        _alarm(clock, f"{p}hub2", "b1", "low_battery", battery=12),  # ... which a technical signal keeps
        _alarm(clock, f"{p}hub2", "s2"),  # ... and a press ends
        _alarm(clock, f"{p}dev3", "t1", "test"),  # logged only
        _alarm(clock, f"{p}dev4", "pf", "power_failure"),
        _alarm(clock, f"{p}dev4", "pr", "power_failure", qualifier="restore"),  # closes it
        _alarm(clock, f"{p}dev5", "k1", late_minutes=7),  # clock skew flagged
        _cancel(clock, f"{p}dev5", "c1", "k1"),  # cancels an alarm of this batch
        _cancel(clock, f"{p}dev5", "c1", "k1"),  # repeat of the cancel
        _cancel(clock, f"{p}dev6", "c2", "nothing"),  # unmatched
        _raw(clock, f"{p}dev7", "alarm", "{not json"),  # unreadable: a P1
        _raw(clock, f"{p}dev1", "alarm", "{still not json"),  # unreadable, joins dev1's alert
        _alarm(clock, f"{p}dev8", "m8", "unknown_thing"),
    ]
    return items


async def _seed(sessions: SessionFactory, p: str) -> None:
    async with sessions() as s:
        s.add_all([Resident(id=f"{p}r{i}", name=f"resident {i}") for i in range(40)])
        await s.flush()
        s.add_all([Device(id=f"{p}dev{i}", resident_id=f"{p}r{i}") for i in range(40)])
        s.add_all([Device(id=f"{p}hub{i}", resident_id=f"{p}r{i}") for i in (1, 2)])
        await s.commit()


async def _store(sessions: SessionFactory, clock: FakeClock, items: list[Item]) -> BatchResult:
    async with sessions() as s:
        result = await store_batch(s, items, now=clock.now(), skew_limit=300, cancel_min_seconds=0,
                                   cancel_grace_seconds=300)
        await s.commit()
    return result


def _norm(value: Any, p: str, ids: dict[int | None, str]) -> Any:
    """Rows of both runs side by side: device prefixes dropped, row ids replaced by alert names."""
    if isinstance(value, str):
        return value.replace(f"device:{p}", "device:").removeprefix(p)
    if isinstance(value, dict):
        return {k: _norm(v, p, ids) for k, v in value.items()}
    return value


async def _snapshot(sessions: SessionFactory, p: str, result: BatchResult) -> dict[str, Any]:
    async with sessions() as s:
        alerts = (await s.exec(select(Alert).where(col(Alert.device_id).startswith(p))
                               .order_by(col(Alert.id)))).all()
        names = {a.id: f"{_norm(a.device_id, p, {})}/{a.source_message_id}" for a in alerts}
        ids = list(names)
        events = (await s.exec(select(AlertEvent).where(col(AlertEvent.alert_id).in_(ids)))).all()
        escalations = (await s.exec(select(Escalation).where(col(Escalation.alert_id).in_(ids)))).all()
        inbound = (await s.exec(select(InboundMessage)
                                .where(col(InboundMessage.device_id).startswith(p)))).all()
        rejected = (await s.exec(select(RejectedMessage)
                                 .where(col(RejectedMessage.device_id).startswith(p)))).all()
        devices = (await s.exec(select(Device).where(col(Device.id).startswith(p)))).all()

    def row(obj: Any, drop: tuple[str, ...] = ()) -> dict[str, Any]:
        data = obj.model_dump(exclude={"id", *drop})
        for key in ("alert_id", "rejected_message_id"):
            if key in data:
                data[key] = names.get(data[key], data[key] and "?")
        if isinstance(data.get("data"), dict):
            data["data"].pop("rejected_message_id", None)
        return {k: _norm(v, p, names) for k, v in data.items()}

    def rows(objs: Any, drop: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        return sorted((row(o, drop) for o in objs), key=repr)

    return {
        "alerts": rows(alerts),
        "events": rows(events),
        "escalations": rows(escalations),
        "inbound": rows(inbound),
        "rejected": rows(rejected, ("topic", "payload")),
        "devices": rows(devices, ("created_at", "updated_at")),
        "receipts": [(_norm(r.device_id, p, names), r.message_id, names.get(r.alert_id))
                     for r in result.receipts],
        "cancelled": [(_norm(r.device_id, p, names), r.message_id, names.get(r.alert_id))
                      for r in result.cancelled],
        "opened": [names[a.id] for a in result.opened],
        "changed": [names[i] for i in result.changed_alert_ids],
        "outcomes": dict(result.outcomes),
    }


async def test_a_storm_batch_stores_the_same_rows_as_one_message_at_a_time(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Duplicates, unknown device, grouping, restore, cancel, unreadable alarms: same rows either way."""
    for p in ("a-", "b-"):
        await _seed(sessions, p)
        await _store(sessions, clock, [_alarm(clock, f"{p}dev0", "m0")])
    merged = BatchResult()
    for item in _storm(clock, "a-"):
        one = await _store(sessions, clock, [item])
        merged.receipts += one.receipts
        merged.cancelled += one.cancelled
        merged.opened += one.opened
        merged.outcomes.update(one.outcomes)
    batch = await _store(sessions, clock, _storm(clock, "b-"))
    one_by_one, together = await _snapshot(sessions, "a-", merged), await _snapshot(sessions, "b-", batch)
    for part in one_by_one:
        assert together[part] == one_by_one[part], part
    assert len(together["opened"]) == 30 + 8 and together["outcomes"][("alarm", "duplicate")] == 2


async def test_a_batch_of_new_alerts_costs_a_fixed_number_of_statements(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Storing 100 alarms from 100 residents takes the same handful of statements as storing 10."""
    counts = []
    for n, p in ((10, "x-"), (100, "y-")):
        async with sessions() as s:
            s.add_all([Resident(id=f"{p}r{i}", name="r") for i in range(n)])
            await s.flush()
            s.add_all([Device(id=f"{p}d{i}", resident_id=f"{p}r{i}") for i in range(n)])
            await s.commit()
        statements: list[str] = []
        async with sessions() as s:
            engine = (await s.connection()).engine.sync_engine

            def note(*args: Any, seen: list[str] = statements) -> None:
                seen.append(args[2])

            event.listen(engine, "before_cursor_execute", note)
            try:
                items = [_alarm(clock, f"{p}d{i}", f"{p}m{i}") for i in range(n)]
                await store_batch(s, items, now=clock.now(), skew_limit=300, cancel_min_seconds=0,
                                  cancel_grace_seconds=300)
                await s.commit()
            finally:
                event.remove(engine, "before_cursor_execute", note)
        counts.append(len(statements))
    assert counts[0] == counts[1] <= 10, counts
