"""The in-process bus: publishing never waits for a listener; each listener gets its changes in order."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from alert_gateway.bus import AlertBus, AlertChange, ChangeKind
from alert_gateway.db.alerts import EventKind
from alert_gateway.db.engine import make_engine
from alert_gateway.db.notify import CHANNEL, ReplicaLink
from alert_gateway.metrics import Metrics


async def test_publish_returns_before_a_slow_listener_finishes() -> None:
    """A listener stuck on I/O (like an MQTT PUBACK) holds neither the publisher nor a fast listener."""
    bus = AlertBus()
    release = asyncio.Event()
    slow_done: list[AlertChange] = []
    fast_seen = asyncio.Event()

    async def slow(change: AlertChange) -> None:
        await release.wait()
        slow_done.append(change)

    async def fast(change: AlertChange) -> None:
        fast_seen.set()

    bus.subscribe(slow)
    bus.subscribe(fast)
    await bus.publish(AlertChange(1, ChangeKind.ACKNOWLEDGED))
    assert slow_done == []  # the publisher is back while the slow listener still waits
    async with asyncio.timeout(5):
        await fast_seen.wait()
    assert slow_done == []
    release.set()
    assert await bus.drain(5)
    assert slow_done == [AlertChange(1, ChangeKind.ACKNOWLEDGED)]


async def test_each_listener_gets_changes_in_order_and_repeats_merge() -> None:
    """Changes reach a listener in publishing order; one identical to a queued one is merged into it."""
    bus = AlertBus()
    seen: list[tuple[int, str]] = []

    async def listen(change: AlertChange) -> None:
        seen.append((change.alert_id, change.kind))

    bus.subscribe(listen)
    for change in [AlertChange(1, ChangeKind.ACKNOWLEDGED), AlertChange(1, ChangeKind.RESOLVED),
                   AlertChange(1, ChangeKind.ACKNOWLEDGED), AlertChange(2, ChangeKind.OPENED)]:
        await bus.publish(change)
    assert await bus.drain(5)
    assert seen == [(1, "acknowledged"), (1, "resolved"), (2, "opened")]


async def test_a_full_queue_drops_and_counts_and_a_failing_listener_does_not_stop_delivery() -> None:
    """Past its bound a listener's queue drops new changes (counted); an exception is only logged."""
    metrics = Metrics()
    bus = AlertBus(metrics.bus_dropped, limit=2)
    seen: list[int] = []

    async def fragile(change: AlertChange) -> None:
        seen.append(change.alert_id)
        if change.alert_id == 1:
            raise RuntimeError("boom")

    bus.subscribe(fragile)
    for alert_id in (1, 2, 3):  # nothing runs in between: the queue holds 1 and 2
        await bus.publish(AlertChange(alert_id, ChangeKind.OPENED))
    assert await bus.drain(5)
    assert seen == [1, 2]
    dropped = metrics.registry.get_sample_value("alert_gateway_bus_dropped_total",
                                                {"listener": fragile.__qualname__})
    assert dropped == 1.0
    await bus.publish(AlertChange(4, ChangeKind.OPENED))
    assert await bus.drain(5)
    assert seen == [1, 2, 4]


async def test_remote_changes_reach_only_listeners_that_want_them() -> None:
    """Another replica's change and a resync skip a local-only listener (device feedback)."""
    bus = AlertBus()
    everywhere: list[AlertChange] = []
    local: list[AlertChange] = []

    async def board(change: AlertChange) -> None:
        everywhere.append(change)

    async def feedback(change: AlertChange) -> None:
        local.append(change)

    bus.subscribe(board)
    bus.subscribe(feedback, remote=False)
    bus.deliver_remote(AlertChange(7, ChangeKind.ACKNOWLEDGED))
    bus.resync()
    await bus.publish(AlertChange(8, ChangeKind.RESOLVED))
    assert await bus.drain(5)
    assert everywhere == [AlertChange(7, ChangeKind.ACKNOWLEDGED, remote=True),
                          AlertChange(0, ChangeKind.RESYNC, remote=True),
                          AlertChange(8, ChangeKind.RESOLVED)]
    assert local == [AlertChange(8, ChangeKind.RESOLVED)]


def test_every_timeline_kind_is_a_change_kind_with_the_same_value() -> None:
    """An action announces its EventKind as the ChangeKind of the same value (NOTIFY payloads)."""
    assert {kind.value for kind in EventKind} <= {kind.value for kind in ChangeKind}


async def test_an_unknown_kind_from_another_replica_is_refused_and_everything_looked_at(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A notice whose kind this version does not know never reaches a listener as a bare string."""
    bus = AlertBus()
    seen: list[AlertChange] = []

    async def listener(change: AlertChange) -> None:
        seen.append(change)

    bus.subscribe(listener)
    engine = make_engine("postgresql+asyncpg://postgres@127.0.0.1/unused")  # never connected
    link = ReplicaLink(engine, bus, Metrics())
    payload = json.dumps({"alert_id": 5, "kind": "teleported", "replica": "other"})
    with caplog.at_level(logging.WARNING):
        link._received(None, 0, CHANNEL, payload)
    assert await bus.drain(5)
    assert seen == [AlertChange(0, ChangeKind.RESYNC, remote=True)]
    assert "unreadable notice" in caplog.text
    await engine.dispose()
