"""Zigbee2MQTT's documented messages for five sensors, through real Mosquitto, the bridge and the gateway."""

from __future__ import annotations

from pathlib import Path

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import Alert
from alert_gateway.ingest.parse import Incoming
from devices.contract import Channel
from tests.harness import gateway_settings, running_gateway

from .z2m_env import (
    alerts_of,
    bridge_settings,
    events_of,
    running_bridge,
    seed,
    until,
    z2m_base,
    zigbee2mqtt,
)

LIVE = {"battery": 97, "linkquality": 120, "voltage": 3042, "device_temperature": 25, "power_outage_count": 3}


async def test_five_sensors_become_the_right_alerts_and_activity(
    database_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """Button → sos, leak → flood then restore, smoke → smoke, motion and door → activity, per resident."""
    await seed(database_url)
    base = z2m_base()
    settings = bridge_settings(gateway_settings(database_url, topic_root), tmp_path, base)
    heard: list[Incoming] = []
    async with running_gateway(settings.model_copy(update={"zigbee2mqtt_map": None}), clock=clock,
                               schema=False) as (gw, changes), \
            running_bridge(settings, clock) as bridge, zigbee2mqtt(base) as z2m:
        gw.services.ingest.device_listeners.append(heard.append)
        await z2m.state("hall/pendant", {"action": "single", **LIVE}, retain=False)
        await z2m.state("bath/leak", {"water_leak": True, "battery_low": False, "tamper": False, **LIVE})
        await z2m.state("kitchen/smoke", {"smoke": True, "smoke_density": 8, "test": False, **LIVE})
        await z2m.state("living/motion", {"occupancy": True, "illuminance_lux": 23, **LIVE})
        await z2m.state("front/door", {"contact": False, **LIVE})

        async def one_alert_each() -> dict[str, Alert] | None:
            found = {r: await alerts_of(gw, r) for r in ("r-btn", "r-leak", "r-smoke")}
            return {r: a[0] for r, a in found.items()} if all(found.values()) else None

        opened = await until(changes, one_alert_each, bridge=bridge, gateway=gw)
        assert {r: (a.type, a.severity, a.device_id) for r, a in opened.items()} == {
            "r-btn": ("sos", "P1", "btn-1"),
            "r-leak": ("flood", "P2", "leak-1"),
            "r-smoke": ("smoke", "P1", "smoke-1"),
        }

        async def activity() -> set[tuple[str, str]] | None:
            kinds = {(i.device_id, i.message.kind.value) for i in heard  # type: ignore[union-attr]
                     if i.channel is Channel.ACTIVITY}
            return kinds if len(kinds) == 2 else None

        assert await until(changes, activity, bridge=bridge, gateway=gw) == {
            ("motion-1", "motion"), ("door-1", "door_open")}
        assert await alerts_of(gw, "r-motion") == [] and await alerts_of(gw, "r-door") == []

        await z2m.state("bath/leak", {"water_leak": False, "battery_low": False, "tamper": False, **LIVE})
        leak = opened["r-leak"]

        async def restored() -> list[str] | None:
            kinds = [e.kind for e in await events_of(gw, leak.id)]
            return kinds if "restored" in kinds else None

        assert "restored" in await until(changes, restored, bridge=bridge, gateway=gw)
        assert len(await alerts_of(gw, "r-leak")) == 1  # the restore opened nothing new

        async def all_received() -> bool:
            return bridge.outbox.pending == 0

        # every alarm got its `received`: nothing is left to re-send
        await until(changes, all_received, bridge=bridge, gateway=gw)
        # nothing was refused (the series exists from the start, at 0, for the alert rules)
        assert gw.services.metrics.registry.get_sample_value(
            "alert_gateway_mqtt_rejected_total", {"reason": "bad_topic"}) == 0
