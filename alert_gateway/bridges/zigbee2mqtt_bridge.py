"""The Zigbee2MQTT bridge: reads Zigbee2MQTT's topics, writes device-contract messages.

Zigbee2MQTT → (map, last state) → contract messages in the durable outbox → the gateway.
A message from Zigbee2MQTT is acknowledged to its broker only once its outcome is committed to
the outbox file. Something the map does not know is published under
`{root}/zigbee2mqtt/rejected/{reason}`: a topic of the wrong shape, which the gateway keeps raw in
its rejected messages (the API's /rejected), where operators look; the payload names the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import uuid
from datetime import datetime
from urllib.parse import urlsplit

import aiomqtt
import aiosqlite
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import SecretStr

from devices.contract import Topics

from ..clock import Clock
from ..ingest.acks import ack, enable_manual_ack
from ..ingest.parse import printable
from ..metrics import PREFIX
from ..settings import Settings
from .contract_outbox import ContractOutbox, OutboxMessage
from .zigbee2mqtt_map import BridgeMap, load_map
from .zigbee2mqtt_translate import ContractItem, Decision, Rejected, TopicState, split_topic, translate

log = logging.getLogger(__name__)

STATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS z2m_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS z2m_state (topic TEXT PRIMARY KEY, state TEXT NOT NULL);
"""
REJECTED_PAYLOAD_CHARS = 2000


def mqtt_client(url: str, *, identifier: str, username: str | None, password: str | None,
                clean_session: bool) -> aiomqtt.Client:
    """A v3.1.1 client for one of the bridge's two connections."""
    parts = urlsplit(url)
    tls = parts.scheme == "mqtts"
    return aiomqtt.Client(
        parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883),
        identifier=identifier, username=username, password=password, timeout=10.0, keepalive=30,
        tls_context=ssl.create_default_context() if tls else None,
        protocol=aiomqtt.ProtocolVersion.V311, clean_session=clean_session)


def source_account(s: Settings) -> tuple[str, str | None, str | None]:
    """Zigbee2MQTT's broker and the bridge's account there; unset, the gateway's own."""
    if s.zigbee2mqtt_mqtt_url is None:
        return s.mqtt_url, s.mqtt_username, _reveal(s.mqtt_password)
    return s.zigbee2mqtt_mqtt_url, s.zigbee2mqtt_mqtt_username, _reveal(s.zigbee2mqtt_mqtt_password)


def _reveal(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()


class Zigbee2MqttBridge:
    """Owns the Zigbee2MQTT subscription and the outbox towards the gateway."""

    def __init__(self, settings: Settings, bridge_map: BridgeMap, *, clock: Clock,
                 registry: CollectorRegistry | None = None) -> None:
        self._settings = settings
        self._devices = bridge_map.by_name()
        self._ignored = set(bridge_map.ignore_devices)
        self._clock = clock
        self._topics = Topics(settings.mqtt_topic_root)
        self._instance = ""
        self.outbox = ContractOutbox(
            settings.zigbee2mqtt_outbox, self._topics, [d.device_id for d in bridge_map.devices],
            clock=clock,
            retry_max_seconds=settings.zigbee2mqtt_retry_max_seconds,
            make_client=lambda: mqtt_client(
                settings.mqtt_url, identifier=settings.zigbee2mqtt_client_id + "-out",
                username=settings.mqtt_username,
                password=_reveal(settings.mqtt_password), clean_session=True))
        self.subscribed = asyncio.Event()
        registry = registry or CollectorRegistry()
        self.messages = Counter(PREFIX + "zigbee2mqtt_messages_total",
                                "Zigbee2MQTT messages read by the bridge, by result.", ["result"],
                                registry=registry)
        Gauge(PREFIX + "zigbee2mqtt_outbox_pending",
              "Bridge messages not yet published, or alarms the gateway has not confirmed.",
              registry=registry).set_function(lambda: self.outbox.pending)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop`: the outbox sender and the Zigbee2MQTT reader."""
        await self.outbox.open()
        try:
            async with self.outbox.transaction() as db:
                await db.executescript(STATE_SCHEMA)
                self._instance = await _instance(db)
            tasks = {asyncio.create_task(self.outbox.run(stop), name="z2m-outbox"),
                     asyncio.create_task(self._listen(stop), name="z2m-listen")}
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # a crash of either half ends both: the caller restarts the bridge
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await self.outbox.close()

    async def _listen(self, stop: asyncio.Event) -> None:
        s = self._settings
        url, username, password = source_account(s)
        backoff = 0.2
        while not stop.is_set():
            # A persistent session: messages Zigbee2MQTT sends at QoS 1 wait for us while we restart.
            client = mqtt_client(url, identifier=s.zigbee2mqtt_client_id + "-in", username=username,
                                 password=password, clean_session=False)
            enable_manual_ack(client)  # acknowledged once the outcome is committed (handle)
            try:
                async with client:
                    await client.subscribe(f"{s.zigbee2mqtt_base_topic}/#", qos=1)
                    self.subscribed.set()
                    log.info("zigbee2mqtt bridge subscribed", extra={"base_topic": s.zigbee2mqtt_base_topic})
                    backoff = 0.2
                    await self._consume(client, stop)
            except aiomqtt.MqttError as exc:
                log.warning("zigbee2mqtt broker connection lost: %s", exc)
            finally:
                self.subscribed.clear()
            if not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, s.zigbee2mqtt_retry_max_seconds)

    async def _consume(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        async def read() -> None:
            async for message in client.messages:
                raw = message.payload
                payload = raw if isinstance(raw, bytes) else str(raw).encode()
                await self.handle(message.topic.value, payload, retained=bool(message.retain))
                ack(client, message)

        reader = asyncio.create_task(read())
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not reader.done():
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
            elif reader.exception() is not None:
                raise reader.exception()  # type: ignore[misc]  # MqttError: reconnect; else a crash

    async def handle(self, topic: str, payload: bytes, *, retained: bool) -> Decision | None:
        """Turn one Zigbee2MQTT message into outbox rows, committed with the topic's new state."""
        split = split_topic(self._settings.zigbee2mqtt_base_topic, topic)
        if split is None:
            return None
        friendly_name, availability = split
        if friendly_name in self._ignored:
            self.messages.labels(result="ignored").inc()
            return None
        now = self._clock.now()
        async with self.outbox.transaction() as db:
            state = await _load_state(db, topic)
            try:
                decision = translate(self._devices.get(friendly_name), friendly_name, payload,
                                     availability=availability, retained=retained, state=state,
                                     instance=self._instance, now=now)
            except Exception as exc:  # a bug must not make this message a poison pill: keep it
                log.exception("zigbee2mqtt message not translated", extra={"topic": topic})
                decision = Decision([Rejected("bridge_error", f"the bridge failed on it: {exc!r}")], state)
            await _save_state(db, topic, decision.state)
            rows = [self._row(item, topic, payload, friendly_name, now) for item in decision.items]
            await ContractOutbox.add(db, rows)
        await self.outbox.queued()
        self._count(decision, friendly_name)
        return decision

    def _row(self, item: ContractItem | Rejected, topic: str, payload: bytes, friendly_name: str,
             now: datetime) -> OutboxMessage:
        if isinstance(item, ContractItem):
            body = item.payload if isinstance(item.payload, str) else json.dumps(item.payload)
            return OutboxMessage(self._topics.for_device(item.device_id, item.channel), body.encode(),
                                 retain=item.retain, device_id=item.device_id, message_id=item.message_id)
        kept = {"bridge": "zigbee2mqtt", "reason": item.reason, "detail": item.detail,
                "device_id": item.device_id, "friendly_name": friendly_name, "topic": topic,
                "payload": printable(payload.decode("utf-8", "backslashreplace"), REJECTED_PAYLOAD_CHARS),
                "ts": now.isoformat()}
        return OutboxMessage(f"{self._topics.root}/zigbee2mqtt/rejected/{item.reason}",
                             json.dumps(kept).encode(), device_id=item.device_id)

    def _count(self, decision: Decision, friendly_name: str) -> None:
        if not decision.items:
            self.messages.labels(result="unchanged").inc()
        for item in decision.items:
            if isinstance(item, Rejected):
                self.messages.labels(result=item.reason).inc()
                log.warning("zigbee2mqtt message rejected: %s", item.detail,
                            extra={"device_id": item.device_id, "reason": item.reason})
            else:
                self.messages.labels(result=item.channel.value).inc()
                if item.message_id is not None:
                    log.info("zigbee2mqtt alarm queued", extra={
                        "device_id": item.device_id, "message_id": item.message_id})


def zigbee2mqtt_bridge(settings: Settings, clock: Clock,
                       registry: CollectorRegistry) -> Zigbee2MqttBridge:
    """The bridge `serve` runs when ALERT_GATEWAY_ZIGBEE2MQTT_MAP is set (its map checked now)."""
    path = settings.zigbee2mqtt_map
    assert path is not None
    return Zigbee2MqttBridge(settings, load_map(path), clock=clock, registry=registry)


async def _instance(db: aiosqlite.Connection) -> str:
    """This outbox file's random id, part of every alarm id: a new file never reuses old ids."""
    rows = list(await db.execute_fetchall("SELECT value FROM z2m_meta WHERE key = 'instance'"))
    if rows:
        return str(rows[0][0])
    instance = uuid.uuid4().hex
    await db.execute("INSERT INTO z2m_meta (key, value) VALUES ('instance', ?)", (instance,))
    return instance


async def _load_state(db: aiosqlite.Connection, topic: str) -> TopicState:
    rows = list(await db.execute_fetchall("SELECT state FROM z2m_state WHERE topic = ?", (topic,)))
    if not rows:
        return TopicState()
    raw = json.loads(rows[0][0])
    return TopicState(raw.get("fingerprint"), raw.get("values", {}), raw.get("counts", {}))


async def _save_state(db: aiosqlite.Connection, topic: str, state: TopicState) -> None:
    raw = json.dumps({"fingerprint": state.fingerprint, "values": state.values, "counts": state.counts})
    await db.execute("INSERT INTO z2m_state (topic, state) VALUES (?, ?) "
                     "ON CONFLICT (topic) DO UPDATE SET state = excluded.state", (topic, raw))
