"""Time the gateway was not listening is not counted against a device (heartbeats come at QoS 0)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import Alert
from devices.contract import Channel
from tests.brokers import PrivateBroker
from tests.harness import WAIT_SECONDS, device_client, gateway_settings, running_gateway

from .helpers import QUIET, Heard, alerts, heartbeat, seed


async def test_gateway_back_after_hours_raises_nothing_until_a_device_stays_silent(
    sqlite_url: str, topic_root: str, clock: FakeClock
) -> None:
    """Six homes last heard 5 h ago: no alert on start; the one still silent 180 s later goes offline."""
    await seed(sqlite_url, clock, 6)
    await clock.advance(hours=5)  # the gateway was down; their heartbeats were not kept for it
    settings = gateway_settings(sqlite_url, topic_root, **QUIET)
    async with running_gateway(settings, clock=clock, schema=False) as (gw, changes), \
            device_client(topic_root, clock=clock) as dev:
        listening = gw.services.ingest.connection.listening_since
        assert listening == clock.now()
        report = await gw.supervisor.check(clock.now())
        assert (report.went_offline, report.outage_opened) == ([], None)

        heard = Heard(gw)
        await clock.advance(100)
        for i in range(5):
            await heartbeat(dev, f"p-{i}", clock)
        await heard.wait(changes, 5)
        assert (await gw.supervisor.check(await clock.advance(79))).went_offline == []
        report = await gw.supervisor.check(await clock.advance(1))
        assert (report.went_offline, report.outage_opened) == (["p-5"], None)
        [alert] = await alerts(gw)
        assert (alert.type, alert.device_id) == ("device_offline", "p-5")


async def test_last_will_retained_while_the_gateway_was_away_raises_at_once(
    sqlite_url: str, topic_root: str, clock: FakeClock
) -> None:
    """A retained QoS 1 `offline` sent before the gateway starts raises at once, tolerance or not."""
    await seed(sqlite_url, clock, 2)
    await clock.advance(hours=5)
    async with device_client(topic_root, clock=clock) as dev:
        await dev.publish("p-1", Channel.STATUS, b"offline", qos=1, retain=True)
        try:
            settings = gateway_settings(sqlite_url, topic_root, **QUIET)
            async with running_gateway(settings, clock=clock, schema=False) as (gw, changes):

                async def offline_alert() -> list[Alert]:
                    return await alerts(gw, "device_offline")

                # the clock has not moved since the gateway subscribed: only the will can say so
                [alert] = await changes.until(offline_alert)
                assert alert.device_id == "p-1"
        finally:
            await dev.publish("p-1", Channel.STATUS, b"", retain=True)  # clear it


async def test_silence_counts_again_only_from_the_reconnect(
    sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """An hour without the broker decides nothing; after the reconnect the device has its full 180 s."""
    await seed(sqlite_url, clock, 1)
    broker = PrivateBroker(tmp_path)
    await broker.start()
    try:
        settings = gateway_settings(sqlite_url, topic_root, mqtt_url=broker.url,
                                    mqtt_reconnect_max_seconds=0.5, **QUIET)
        async with running_gateway(settings, clock=clock, schema=False) as (gw, _):
            connection = gw.services.ingest.connection
            await broker.kill()
            async with asyncio.timeout(WAIT_SECONDS):
                await connection.disconnected.wait()
            assert connection.listening_since is None
            assert (await gw.supervisor.check(await clock.advance(hours=1))).went_offline == []

            await broker.start()
            async with asyncio.timeout(WAIT_SECONDS):
                await connection.connected.wait()
            assert connection.listening_since == clock.now()
            assert (await gw.supervisor.check(await clock.advance(179))).went_offline == []
            assert (await gw.supervisor.check(await clock.advance(1))).went_offline == ["p-0"]
    finally:
        await broker.kill()


async def test_retained_online_status_is_not_a_sighting(
    sqlite_url: str, topic_root: str, clock: FakeClock
) -> None:
    """A hub gone silent whose stale retained `online` the broker replays on restart stays offline."""
    await seed(sqlite_url, clock, 2)
    settings = gateway_settings(sqlite_url, topic_root, **QUIET)
    async with device_client(topic_root, clock=clock) as dev:
        await dev.publish("p-0", Channel.STATUS, b"online", qos=1, retain=True)  # from long ago
        try:
            async with running_gateway(settings, clock=clock, schema=False) as (gw, _):
                report = await gw.supervisor.check(await clock.advance(hours=1))
                assert sorted(report.went_offline) == ["p-0", "p-1"]
            async with running_gateway(settings, clock=clock, schema=False) as (gw, changes):
                heard = Heard(gw)
                await heartbeat(dev, "p-1", clock)  # published after the replay: heard after it
                # its own message, not a count: the replay, handled first, is one message too
                await heard.wait_for(changes, "p-1")
                assert [i.device_id for i in heard.items][-1] == "p-1"
                report = await gw.supervisor.check(clock.now())
                assert report.came_back == ["p-1"], report
                assert [a.device_id for a in await alerts(gw, "device_offline")
                        if a.resolved_at is None] == ["p-0"]
        finally:
            await dev.publish("p-0", Channel.STATUS, b"", retain=True)  # clear it
