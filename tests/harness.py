"""A gateway running in the test's event loop against real Mosquitto, plus a device-side client."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import aiomqtt

from alert_gateway.clock import Clock, FakeClock
from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.models import Device, Resident
from alert_gateway.gateway import Gateway
from alert_gateway.ingest.batch import BatchResult
from alert_gateway.services import Services, build_services
from alert_gateway.settings import Settings
from devices.contract import Channel, Topics

from .conftest import MQTT_URL, create_schema

T = TypeVar("T")
BROKER_LOG = Path("/var/log/mosquitto/mosquitto.log")  # the shared broker's (Debian's default)
WAIT_SECONDS = 15.0  # a bound, not a pause: every wait returns as soon as its condition holds


class Changes:
    """Lets a test await 'the gateway committed something' instead of sleeping."""

    def __init__(self) -> None:
        self._cond = asyncio.Condition()
        self.batches: list[BatchResult] = []

    async def on_batch(self, result: BatchResult) -> None:
        """Batch listener: record and wake waiters."""
        async with self._cond:
            self.batches.append(result)
            self._cond.notify_all()

    async def poke(self) -> None:
        """Wake waiters after any other change."""
        async with self._cond:
            self._cond.notify_all()

    async def until(self, check: Callable[[], Awaitable[T | None]], within: float = WAIT_SECONDS) -> T:
        """Re-evaluate `check` after each change until it returns something truthy."""
        async with asyncio.timeout(within):
            while True:
                value = await check()
                if value:
                    return value
                async with self._cond:
                    try:
                        await asyncio.wait_for(self._cond.wait(), 0.05)
                    except TimeoutError:
                        pass  # re-check: other tasks (engine, webhooks) change rows too


async def seed_hub(url: str) -> None:
    """Resident r-1 with one base unit, hub-1, on a database that has the schema."""
    engine = make_engine(url)
    async with make_sessions(engine)() as s:
        s.add(Resident(id="r-1", name="山田 花子"))
        await s.flush()
        s.add(Device(id="hub-1", resident_id="r-1", kind="base_unit"))
        await s.commit()
    await engine.dispose()


async def hub(url: str) -> Device | None:
    """The base unit seed_hub made, as stored now (its battery and last-seen time)."""
    engine = make_engine(url)
    async with make_sessions(engine)() as s:
        device = await s.get(Device, "hub-1")
    await engine.dispose()
    return device


def gateway_settings(database_url: str, topic_root: str, **overrides: Any) -> Settings:
    """Settings for a test gateway: its own database, topic root and MQTT client id."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "mqtt_url": MQTT_URL,
        "mqtt_topic_root": topic_root,
        "mqtt_client_id": f"{run_of(topic_root)}-gw-{uuid.uuid4().hex[:8]}",
    }
    return Settings(**{**values, **overrides})


@asynccontextmanager
async def running_gateway(
    settings: Settings, *, clock: Clock | None = None, schema: bool = True,
    before_start: Callable[[Gateway], Awaitable[None]] | None = None,
) -> AsyncIterator[tuple[Gateway, Changes]]:
    """Start a gateway in this loop and stop it cleanly afterwards. `before_start`: what must run
    before the gateway's tasks do (its webhook server, listening before anything is sent)."""
    if schema:
        await create_schema(settings.database_url)
    services: Services = build_services(settings, clock=clock or FakeClock())
    changes = Changes()
    services.ingest.batch_listeners.append(changes.on_batch)
    gateway = Gateway(services)
    if before_start is not None:
        await before_start(gateway)
    await gateway.start()
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            await services.ingest.connection.connected.wait()
        yield gateway, changes
    finally:
        await gateway.stop()
        await services.close()


def run_of(topic_root: str) -> str:
    """The test's own part of its topic root: its clients' ids carry it, so its log lines can be found."""
    return topic_root.split("/", 1)[0]


def broker_log(*names: str) -> str:
    """The shared broker's log lines naming any of `names` (its clients connecting, dropping)."""
    try:
        lines = BROKER_LOG.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"(unreadable: {exc})"
    return "\n".join(line for line in lines if any(n in line for n in names)) or "(no lines)"


@asynccontextmanager
async def device_client(
    topic_root: str, *, clock: Clock | None = None, identifier: str | None = None
) -> AsyncIterator[DeviceSide]:
    """A plain MQTT client acting as devices (and watching their feedback)."""
    name = identifier or f"{run_of(topic_root)}-dev-{uuid.uuid4().hex[:8]}"
    async with aiomqtt.Client("127.0.0.1", 1883, identifier=name) as client:
        yield DeviceSide(client, Topics(topic_root), clock)


class DeviceSide:
    """Publishes as devices; collects feedback messages."""

    def __init__(self, client: aiomqtt.Client, topics: Topics, clock: Clock | None) -> None:
        self.client = client
        self.topics = topics
        self.clock = clock  # device clocks agree with the gateway's unless a test says otherwise

    async def publish(
        self,
        device_id: str,
        channel: Channel,
        payload: dict[str, Any] | bytes | str,
        *,
        qos: int = 1,
        retain: bool = False,
    ) -> None:
        """Publish one message as `device_id`."""
        body = json.dumps(payload).encode() if isinstance(payload, dict) else payload
        await self.client.publish(self.topics.for_device(device_id, channel), body, qos=qos, retain=retain)

    async def alarm(
        self,
        device_id: str,
        msg_id: str,
        alarm_type: str = "sos",
        *,
        ts: datetime | None = None,
        **extra: Any,
    ) -> None:
        """Publish an alarm."""
        stamp = (ts or (self.clock.now() if self.clock else datetime.now().astimezone())).isoformat()
        await self.publish(device_id, Channel.ALARM, {"id": msg_id, "type": alarm_type, "ts": stamp, **extra})

    async def watch_feedback(self) -> None:
        """Subscribe to every device's feedback topic."""
        await self.client.subscribe(f"{self.topics.root}/+/feedback", qos=1)

    async def next_feedback(self, within: float = WAIT_SECONDS) -> tuple[str, dict[str, Any]]:
        """The next feedback message: (device id, payload)."""
        try:
            async with asyncio.timeout(within):
                async for message in self.client.messages:
                    parsed = self.topics.parse(message.topic.value)
                    assert parsed is not None
                    return parsed.device_id, json.loads(message.payload)  # type: ignore[arg-type]
        except TimeoutError:
            raise AssertionError(f"no feedback within {within} s; the shared broker's log of "
                                 f"this test's clients:\n{broker_log(run_of(self.topics.root))}") from None
        raise AssertionError("message stream ended")
