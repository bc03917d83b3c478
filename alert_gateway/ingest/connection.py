"""One MQTT connection with our own reconnect loop (aiomqtt 2.x has none) and bounded backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from devices.contract import Topics

from ..metrics import Metrics
from ..settings import Settings
from .acks import enable_manual_ack
from .pahotune import take_queued, tune

log = logging.getLogger(__name__)

MessageHandler = Callable[[aiomqtt.Client, aiomqtt.Message], Awaitable[None]]
PUBLISH_TIMEOUT_SECONDS = 10.0
PENDING_PUBLISH_WARNING = 1000  # publishes awaiting PUBACK (paho's max_inflight_messages)


class MqttConnection:
    """Keeps a subscribed session to the broker and hands every message to `handler`."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        handler: MessageHandler,
        drain: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._handler = handler
        self._drain = drain  # commits and acks what was read, before a clean disconnect
        self._client: aiomqtt.Client | None = None
        self.topics = Topics(settings.mqtt_topic_root)
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()  # set while not connected (readiness, tests)
        self.disconnected.set()

    def make_client(self) -> aiomqtt.Client:
        """A client with our persistent session and manual acknowledgement (not yet connected)."""
        s = self._settings
        v5 = s.mqtt_protocol == "5"
        props = None
        if v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = s.mqtt_session_expiry_seconds
            props.ReceiveMaximum = s.mqtt_receive_maximum
        client = aiomqtt.Client(
            s.mqtt_host,
            s.mqtt_port,
            identifier=s.mqtt_client_id,
            username=s.mqtt_username,
            password=s.mqtt_password.get_secret_value() if s.mqtt_password else None,
            timeout=10.0,
            keepalive=30,
            max_inflight_messages=1000,
            tls_context=ssl.create_default_context() if s.mqtt_tls else None,
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            # both off: the defaults wipe the broker's queue for us on every process start (STACK.md §1)
            clean_start=False if v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,  # paho: v5 only
            clean_session=None if v5 else False,
            properties=props,
        )
        # aiomqtt logs a warning on every publish while more than 10 await their PUBACK; the ingest
        # keeps hundreds of `received` publishes in flight on purpose (pipeline.FEEDBACK_IN_FLIGHT).
        client.pending_calls_threshold = PENDING_PUBLISH_WARNING
        enable_manual_ack(client)
        tune(client)
        return client

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, subscribe and consume until `stop` is set; reconnect with backoff on loss."""
        backoff = 0.2
        while not stop.is_set():
            client = self.make_client()
            try:
                async with client:
                    await client.subscribe(self.topics.subscription(self._settings.mqtt_share_group), qos=1)
                    self._client = client
                    self.disconnected.clear()
                    self.connected.set()
                    self._metrics.mqtt_connected.set(1)
                    log.info("mqtt connected", extra={"broker": self._settings.mqtt_host})
                    backoff = 0.2
                    await self._consume(client, stop)
            except aiomqtt.MqttError as exc:
                log.warning("mqtt connection lost: %s", exc)
            finally:
                self._client = None
                self.connected.clear()
                self.disconnected.set()
                self._metrics.mqtt_connected.set(0)
            if stop.is_set():
                break
            self._metrics.mqtt_reconnects.inc()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, self._settings.mqtt_reconnect_max_seconds)

    async def _consume(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        async def read() -> None:
            async for message in client.messages:
                await self._handler(client, message)
                for queued in take_queued(client):  # the rest of a burst, in order
                    await self._handler(client, queued)

        reader = asyncio.create_task(read())
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set() and self._drain is not None:
                reader.cancel()
                await self._drain()
        finally:
            stopper.cancel()
            if not reader.done():
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
            elif reader.exception() is not None:
                raise reader.exception()  # type: ignore[misc]

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> bool:
        """Publish if connected; False (and a log line) when not, since callers must not block on it."""
        client = self._client
        if client is None:
            log.warning("mqtt publish skipped: not connected", extra={"topic": topic})
            return False
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):
                await client.publish(topic, payload, qos=qos, retain=retain)
            return True
        except (aiomqtt.MqttError, TimeoutError) as exc:
            log.warning("mqtt publish failed: %s", exc, extra={"topic": topic})
            return False
