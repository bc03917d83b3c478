"""Device offline stories over real Mosquitto: silence, last will, back again, restart."""

from __future__ import annotations

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import Alert
from devices.contract import Channel
from tests.harness import device_client, gateway_settings, running_gateway

from .helpers import QUIET, Heard, alerts, device, heartbeat, seed, supervised, timeline


async def test_silent_device_raises_one_offline_alert_and_a_heartbeat_clears_it(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """Three missed minutes raise exactly one P3 device_offline; the next heartbeat resolves it."""
    async with supervised(database_url, topic_root, clock, 1) as (gw, changes, dev):
        await clock.advance(179)
        assert (await gw.supervisor.check(clock.now())).went_offline == []
        await clock.advance(2)
        report = await gw.supervisor.check(clock.now())
        assert report.went_offline == ["p-0"] and report.offline_count == 1
        await gw.supervisor.check(await clock.advance(600))
        [alert] = await alerts(gw)
        assert (alert.type, alert.severity, alert.status, alert.resident_id) == (
            "device_offline", "P3", "open", "r-0")
        assert not (await device(gw, "p-0")).online
        assert gw.services.metrics.devices_offline._value.get() == 1

        heard = Heard(gw)
        await heartbeat(dev, "p-0", clock, battery=90)
        await heard.wait(changes, 1)
        await gw.flush_heartbeats()
        report = await gw.supervisor.check(clock.now())
        assert report.came_back == ["p-0"]
        [alert] = await alerts(gw)
        assert (alert.status, alert.outcome) == ("resolved", "restored")
        assert (await timeline(gw, alert.id))[-1] == "device_back"
        assert (await device(gw, "p-0")).online
        assert gw.services.metrics.devices_offline._value.get() == 0


async def test_retained_offline_status_raises_at_once(
    sqlite_url: str, topic_root: str, clock: FakeClock
) -> None:
    """A retained last-will `offline` wakes supervision: the alert is there without advancing time."""
    await seed(sqlite_url, clock, 1)
    settings = gateway_settings(sqlite_url, topic_root, **QUIET)
    async with running_gateway(settings, clock=clock, schema=False) as (gw, changes), \
            device_client(topic_root, clock=clock) as dev:
        await dev.publish("p-0", Channel.STATUS, b"offline", retain=True)

        async def offline_alert() -> list[Alert]:
            return await alerts(gw, "device_offline")

        [alert] = await changes.until(offline_alert)
        assert alert.device_id == "p-0"
        await dev.publish("p-0", Channel.STATUS, b"", retain=True)  # clear the retained will


async def test_restart_neither_forgets_nor_double_raises(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """A new gateway on the same database keeps the one offline alert and raises no other."""
    await seed(database_url, clock, 1, battery=10)
    settings = gateway_settings(database_url, topic_root, **QUIET)
    async with running_gateway(settings, clock=clock, schema=False) as (gw, _):
        report = await gw.supervisor.check(await clock.advance(200))
        assert report.went_offline == ["p-0"]
        [before] = await alerts(gw)  # low battery and offline share the resident's one alert
    async with running_gateway(settings, clock=clock, schema=False) as (gw, _):
        report = await gw.supervisor.check(await clock.advance(200))
        assert report.went_offline == [] and report.low_battery == [] and report.opened == []
        [alert] = await alerts(gw)
        assert alert.id == before.id and alert.status == "open"
        assert {alert.type} <= {"device_offline", "low_battery"}
        assert (await timeline(gw, alert.id)).count("alarm") == 1
