"""One MQTT connection with our own reconnect loop (aiomqtt 2.x has none) and bounded backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from devices.contract import Channel, Topics

from ..clock import Clock, SystemClock
from ..errors import GatewayError
from ..metrics import Metrics
from ..settings import Settings
from .acks import enable_manual_ack
from .pahotune import missing_internals, take_queued, tune

log = logging.getLogger(__name__)

MessageHandler = Callable[[aiomqtt.Client, aiomqtt.Message], Awaitable[None]]
PUBLISH_TIMEOUT_SECONDS = 10.0
PENDING_PUBLISH_WARNING = 1000  # publishes awaiting PUBACK (paho's max_inflight_messages)

# The QoS the gateway subscribes each device channel at. Alarms, cancels and status are PUBACKed
# only once handled, so the broker keeps them until then: QoS 1. A heartbeat or an activity is
# superseded by the next one: at QoS 0 the broker downgrades them, no PUBACK goes back, and they
# are not queued while the gateway is away, where they would crowd out the alarms queued with them.
# Feedback is the gateway's own output and is not subscribed.
CHANNEL_QOS: dict[Channel, int] = {
    Channel.ALARM: 1,
    Channel.CANCEL: 1,
    Channel.STATUS: 1,
    Channel.HEARTBEAT: 0,
    Channel.ACTIVITY: 0,
}


class SubscriptionRefused(GatewayError):
    """The broker refused a topic filter or granted it a lower QoS than asked."""


def subscriptions(topics: Topics, share_group: str | None) -> list[tuple[str, int]]:
    """The gateway's topic filters with their QoS, under the root and in the share group if any.

    No two filters match one topic: with overlapping filters a broker sends a copy per filter or
    picks one QoS its own way (mosquitto 2.0 does each, depending on the protocol version).
    """
    filters = [(topics.for_device("+", channel), qos) for channel, qos in CHANNEL_QOS.items()]
    # Topics of the wrong shape, so they are kept as rejected: the root alone, one level below
    # it, three or more. (An unknown channel two levels down cannot be told from a heartbeat by
    # a filter: see devices/README.md.)
    filters += [(topics.root, 1), (f"{topics.root}/+", 1), (f"{topics.root}/+/+/+/#", 1)]
    return [(_shared(topic_filter, share_group), qos) for topic_filter, qos in filters]


def former_subscription(topics: Topics, share_group: str | None) -> str:
    """The one filter earlier versions subscribed: the whole tree, at QoS 1."""
    return _shared(f"{topics.root}/#", share_group)


def _shared(topic_filter: str, share_group: str | None) -> str:
    return f"$share/{share_group}/{topic_filter}" if share_group else topic_filter


def refused(wanted: Sequence[tuple[str, int]], granted: Sequence[int | ReasonCode]) -> list[str]:
    """Filters whose SUBACK code (one per filter, in order) is missing or not the QoS asked for."""
    codes = [code.value if isinstance(code, ReasonCode) else code for code in granted]
    return [f for i, (f, qos) in enumerate(wanted) if i >= len(codes) or codes[i] != qos]


class MqttConnection:
    """Keeps a subscribed session to the broker and hands every message to `handler`."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        handler: MessageHandler,
        drain: Callable[[], Awaitable[None]] | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock or SystemClock()
        self._metrics = metrics
        self._handler = handler
        self._drain = drain  # commits and acks what was read, before a clean disconnect
        self._client: aiomqtt.Client | None = None
        self.topics = Topics(settings.mqtt_topic_root)
        self.reader_tuned: bool | None = None  # decided on the first client (pahotune.py)
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()  # set while not connected (readiness, tests)
        self.disconnected.set()
        # When the broker began forwarding to this process, this connection; None while not
        # subscribed. Heartbeats come at QoS 0 and are not queued for us while we are away, so
        # supervision measures a device's silence from here at the earliest.
        self.listening_since: datetime | None = None

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
        # keeps hundreds of `received` publishes in flight on purpose (receipts.IN_FLIGHT).
        client.pending_calls_threshold = PENDING_PUBLISH_WARNING
        enable_manual_ack(client)
        if self.reader_tuned is None:  # the libraries do not change while we run: check once
            missing = missing_internals(client)
            self.reader_tuned = not missing
            self._metrics.mqtt_reader_tuned.set(int(self.reader_tuned))
            if missing:
                log.warning(
                    "mqtt: aiomqtt's own reader, not the tuned one (paho-mqtt/aiomqtt outside the "
                    "pinned versions?): missing %s",
                    ", ".join(missing),
                )
        if self.reader_tuned:
            tune(client)
        return client

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, subscribe and consume until `stop` is set; reconnect with backoff on loss."""
        backoff = 0.2
        while not stop.is_set():
            client = self.make_client()
            try:
                async with client:
                    await self._subscribe(client)
                    self.listening_since = self._clock.now()
                    self._client = client
                    self.disconnected.clear()
                    self.connected.set()
                    self._metrics.mqtt_connected.set(1)
                    log.info("mqtt connected", extra={"broker": self._settings.mqtt_host})
                    backoff = 0.2
                    await self._consume(client, stop)
            except aiomqtt.MqttError as exc:
                log.warning("mqtt connection lost: %s", exc)
            except SubscriptionRefused as exc:  # nothing would be safe to read: retry as a loss
                log.error("mqtt subscription refused: %s", exc)
            finally:
                self._client = None
                self.listening_since = None
                self.connected.clear()
                self.disconnected.set()
                self._metrics.mqtt_connected.set(0)
            if stop.is_set():
                break
            self._metrics.mqtt_reconnects.inc()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, self._settings.mqtt_reconnect_max_seconds)

    async def _subscribe(self, client: aiomqtt.Client) -> None:
        share_group = self._settings.mqtt_share_group
        wanted = subscriptions(self.topics, share_group)
        bad = refused(wanted, await client.subscribe(wanted))
        if bad:
            raise SubscriptionRefused(", ".join(bad))
        # A persistent session made by an earlier version keeps its subscription; left there, it
        # would deliver every heartbeat twice, once at QoS 1. (Unsubscribing nothing is harmless.)
        await client.unsubscribe(former_subscription(self.topics, share_group))

    async def _consume(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        async def read() -> None:
            async for message in client.messages:
                await self._handler(client, message)
                if self.reader_tuned:
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
