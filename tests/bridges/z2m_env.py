"""A Zigbee2MQTT side (publisher on a per-test base topic), a running bridge and seeded homes."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiomqtt
from sqlmodel import col, select

from alert_gateway.bridges.zigbee2mqtt_bridge import Zigbee2MqttBridge
from alert_gateway.bridges.zigbee2mqtt_map import load_map
from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.models import Alert, AlertEvent, Device, RejectedMessage, Resident
from alert_gateway.gateway import Gateway
from alert_gateway.settings import Settings
from tests.conftest import create_schema
from tests.harness import WAIT_SECONDS, Changes

T = TypeVar("T")

# friendly name → (device id, resident id, model): the five sensors of docs/devices/zigbee2mqtt.md
HOMES = {
    "hall/pendant": ("btn-1", "r-btn", "WXKG11LM"),
    "bath/leak": ("leak-1", "r-leak", "SJCGQ11LM"),
    "kitchen/smoke": ("smoke-1", "r-smoke", "JTYJ-GD-01LM/BW"),
    "living/motion": ("motion-1", "r-motion", "RTCGQ11LM"),
    "front/door": ("door-1", "r-door", "MCCGQ11LM"),
}


def write_map(directory: Path) -> Path:
    """A map of the five sensors, defaults only."""
    devices = [{"friendly_name": name, "device_id": device, "resident": resident, "model": model}
               for name, (device, resident, model) in HOMES.items()]
    path = directory / "zigbee2mqtt-map.yaml"
    path.write_text(json.dumps({"devices": devices, "ignore_devices": ["hall/lamp"]}), encoding="utf-8")
    return path  # JSON is YAML


def bridge_settings(settings: Settings, directory: Path, base_topic: str) -> Settings:
    """The gateway's settings plus a bridge on this test's base topic and outbox file."""
    return settings.model_copy(update={
        "zigbee2mqtt_map": write_map(directory),
        "zigbee2mqtt_base_topic": base_topic,
        "zigbee2mqtt_client_id": f"agtest-z2m-{uuid.uuid4().hex[:8]}",
        "zigbee2mqtt_outbox": directory / "z2m-outbox.db",
    })


async def seed(url: str) -> None:
    """One resident per sensor, each device registered to them."""
    await create_schema(url)
    engine = make_engine(url)
    async with make_sessions(engine)() as s:
        s.add_all([Resident(id=resident, name=f"利用者 {resident}") for _, resident, _ in HOMES.values()])
        await s.flush()
        s.add_all([Device(id=device, resident_id=resident, kind="zigbee")
                   for device, resident, _ in HOMES.values()])
        await s.commit()
    await engine.dispose()


@asynccontextmanager
async def running_bridge(settings: Settings, clock: FakeClock) -> AsyncIterator[Zigbee2MqttBridge]:
    """The bridge in this loop, subscribed on both sides, stopped cleanly afterwards."""
    assert settings.zigbee2mqtt_map is not None
    bridge = Zigbee2MqttBridge(settings, load_map(settings.zigbee2mqtt_map), clock=clock)
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            await bridge.subscribed.wait()
            await bridge.outbox.connected.wait()
        yield bridge
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT_SECONDS)


@asynccontextmanager
async def zigbee2mqtt(base_topic: str) -> AsyncIterator[Z2MSide]:
    """Plays Zigbee2MQTT; clears every retained message it left when the test ends."""
    async with aiomqtt.Client("127.0.0.1", 1883, identifier=f"agtest-z2m-pub-{uuid.uuid4().hex[:8]}") as c:
        side = Z2MSide(c, base_topic)
        try:
            yield side
        finally:
            for topic in side.retained:
                await c.publish(topic, b"", qos=1, retain=True)


class Z2MSide:
    """Publishes Zigbee2MQTT's documented message shapes."""

    def __init__(self, client: aiomqtt.Client, base_topic: str) -> None:
        self.client, self.base, self.retained = client, base_topic, set[str]()

    async def state(self, friendly_name: str, payload: dict[str, Any] | bytes, *,
                    retain: bool = True) -> None:
        """`{base}/{friendly_name}`: the device's state (retained, as Zigbee2MQTT's `retain` option)."""
        await self._publish(f"{self.base}/{friendly_name}", payload, retain)

    async def availability(self, friendly_name: str, payload: dict[str, Any] | bytes) -> None:
        """`{base}/{friendly_name}/availability`, always retained."""
        await self._publish(f"{self.base}/{friendly_name}/availability", payload, True)

    async def _publish(self, topic: str, payload: dict[str, Any] | bytes, retain: bool) -> None:
        body = json.dumps(payload).encode() if isinstance(payload, dict) else payload
        await self.client.publish(topic, body, qos=1, retain=retain)
        if retain:
            self.retained.add(topic)


async def alerts_of(gateway: Gateway, resident_id: str) -> list[Alert]:
    """A resident's alerts, oldest first."""
    async with gateway.services.sessions() as s:
        query = select(Alert).where(Alert.resident_id == resident_id).order_by(col(Alert.id))
        return list((await s.exec(query)).all())


async def events_of(gateway: Gateway, alert_id: int | None) -> list[AlertEvent]:
    """An alert's timeline."""
    async with gateway.services.sessions() as s:
        rows = await s.exec(select(AlertEvent).where(AlertEvent.alert_id == alert_id)
                            .order_by(col(AlertEvent.id)))
        return list(rows.all())


async def rejected(gateway: Gateway) -> list[RejectedMessage]:
    """The gateway's kept rejected messages."""
    async with gateway.services.sessions() as s:
        return list((await s.exec(select(RejectedMessage))).all())


async def until(changes: Changes, check: Callable[[], Awaitable[T | None]], *,
                bridge: Zigbee2MqttBridge | None = None, gateway: Gateway | None = None) -> T:
    """`changes.until`, but a timeout says what the bridge and the gateway had done by then."""
    try:
        return await changes.until(check)
    except TimeoutError:
        seen: list[str] = []
        if bridge is not None:
            counts = {s.labels["result"]: s.value for m in bridge.messages.collect() for s in m.samples
                      if s.name.endswith("_total")}
            seen.append(f"bridge results {counts}, outbox publishes={bridge.outbox.publishes} "
                        f"pending={bridge.outbox.pending}")
        if gateway is not None:
            async with gateway.services.sessions() as s:
                alerts = [(a.resident_id, a.device_id, a.type, a.status)
                          for a in (await s.exec(select(Alert))).all()]
            kept = [(r.topic, r.reason, r.detail) for r in await rejected(gateway)]
            seen.append(f"gateway alerts {alerts}, rejected {kept}")
        raise AssertionError("condition not met in time; " + "; ".join(seen)) from None


def z2m_base() -> str:
    """A Zigbee2MQTT base topic no other test uses."""
    return f"agtest-z2m-{uuid.uuid4().hex[:10]}"
