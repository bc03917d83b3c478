"""MQTT connections: one per device (own client id, username, last will) or one shared by many."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiomqtt

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes], None]
OnConnect = Callable[[aiomqtt.Client], Awaitable[None]]
PUBLISH_TIMEOUT = 10.0  # seconds; every outbound await is bounded (STYLE.md)
RECONNECT_MAX = 30.0


@dataclass(frozen=True, slots=True)
class Broker:
    """Where to connect, from an mqtt:// or mqtts:// URL."""

    host: str = "127.0.0.1"
    port: int = 1883
    tls: bool = False

    @classmethod
    def from_url(cls, url: str) -> Broker:
        """Parse `mqtt://host:port` (mqtts:// for TLS, default port 8883)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp"):
            raise ValueError(f"not an MQTT URL: {url!r}")
        tls = parts.scheme == "mqtts"
        return cls(parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883), tls)


class Connection:
    """One MQTT client that reconnects with backoff (aiomqtt has none) until killed or cancelled."""

    def __init__(
        self,
        broker: Broker,
        *,
        identifier: str,
        username: str | None = None,
        password: str | None = None,
        will: aiomqtt.Will | None = None,
        subscriptions: Iterable[str] = (),
        on_message: MessageHandler | None = None,
        on_connect: OnConnect | None = None,
        max_inflight: int = 20,
    ) -> None:
        self._broker = broker
        self._identifier = identifier
        self._username = username
        self._password = password
        self._will = will
        self._subscriptions = tuple(subscriptions)
        self._on_message = on_message
        self._on_connect = on_connect
        self._max_inflight = max_inflight
        self._client: aiomqtt.Client | None = None
        self._killed = False
        self.connected = asyncio.Event()

    def _make_client(self) -> aiomqtt.Client:
        client = aiomqtt.Client(
            self._broker.host,
            self._broker.port,
            identifier=self._identifier,
            username=self._username,
            password=self._password,
            will=self._will,
            tls_context=ssl.create_default_context() if self._broker.tls else None,
            max_inflight_messages=self._max_inflight,
            timeout=PUBLISH_TIMEOUT,
        )
        # a shared connection keeps hundreds of publishes in flight on purpose: no warning each
        client.pending_calls_threshold = max(10, self._max_inflight * 2)
        return client

    async def run(self) -> None:
        """Stay connected (and read subscribed messages) until killed or cancelled."""
        delay = 1.0
        while not self._killed:
            client = self._make_client()
            try:
                async with client:
                    for topic in self._subscriptions:
                        await client.subscribe(topic, qos=1)
                    if self._on_connect is not None:
                        await self._on_connect(client)
                    self._client = client
                    self.connected.set()
                    delay = 1.0
                    async for message in client.messages:
                        if self._on_message is not None and isinstance(message.payload, bytes):
                            self._on_message(message.topic.value, message.payload)
            except aiomqtt.MqttError as exc:
                if not self._killed:
                    log.warning("simulator connection %s lost: %s", self._identifier, exc)
            finally:
                self._client = None
                self.connected.clear()
            if self._killed:
                return
            # jitter so thousands of devices do not reconnect in lockstep after an outage
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, RECONNECT_MAX)

    async def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool = False) -> None:
        """Publish now; MqttError when not connected (callers that must deliver retry)."""
        client = self._client
        if client is None:
            raise aiomqtt.MqttError(f"{self._identifier} is not connected")
        await client.publish(topic, payload, qos=qos, retain=retain, timeout=PUBLISH_TIMEOUT)

    def kill(self) -> None:
        """Drop the TCP connection without an MQTT DISCONNECT, so the broker sends the last will."""
        self._killed = True
        client = self._client
        sock = client._client.socket() if client is not None else None
        if isinstance(sock, socket.socket):
            # shutdown, not close: closing the fd under paho breaks later clients (STACK.md §1)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


async def publish_many(
    connection: Connection,
    messages: Iterable[tuple[str, bytes]],
    *,
    qos: int,
    retain: bool = False,
    batch: int = 500,
) -> None:
    """Publish many messages with a bounded number in flight."""
    chunk: list[tuple[str, bytes]] = []
    for item in messages:
        chunk.append(item)
        if len(chunk) >= batch:
            await _publish_chunk(connection, chunk, qos, retain)
            chunk = []
    if chunk:
        await _publish_chunk(connection, chunk, qos, retain)


async def _publish_chunk(
    connection: Connection, chunk: list[tuple[str, bytes]], qos: int, retain: bool
) -> None:
    await asyncio.gather(*(connection.publish(t, p, qos=qos, retain=retain) for t, p in chunk))
