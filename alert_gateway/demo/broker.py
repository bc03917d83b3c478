"""The demo's MQTT broker: the local Mosquitto when it answers, else an embedded amqtt broker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import ConfigError

log = logging.getLogger(__name__)

LOCAL_URL = "mqtt://127.0.0.1:1883"
PROBE_TIMEOUT = 0.5  # seconds: a local broker answers at once; a newcomer must not wait


@dataclass(frozen=True, slots=True)
class DemoBroker:
    """Where the demo's clients connect, and whether it is our own embedded broker."""

    url: str
    embedded: bool

    @property
    def description(self) -> str:
        """How the start-up lines name it."""
        return f"embedded amqtt broker at {self.url}" if self.embedded else f"MQTT broker at {self.url}"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def reachable(url: str, within: float = PROBE_TIMEOUT) -> bool:
    """True when something accepts a TCP connection at the URL's host and port in `within` s."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 1883
    try:
        async with asyncio.timeout(within):
            _reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


@contextlib.asynccontextmanager
async def embedded_broker(port: int | None = None) -> AsyncIterator[DemoBroker]:
    """Run amqtt in this process on 127.0.0.1 until the block ends (STACK.md §6)."""
    try:
        from amqtt.broker import Broker
    except ImportError as exc:  # an optional extra: say how to get it
        raise ConfigError(
            "no MQTT broker at 127.0.0.1:1883 and amqtt is not installed: "
            "pip install 'alert-gateway[demo]' or start Mosquitto"
        ) from exc
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.WARNING)  # amqtt logs every packet at INFO
    port = port or free_port()
    broker = Broker({
        # amqtt binds 0.0.0.0 by default; the demo must never listen beyond this machine
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        # anonymous off: amqtt queues for offline persistent sessions only when they log in
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": False}},
    })
    await broker.start()
    log.info("embedded broker started", extra={"port": port})
    try:
        yield DemoBroker(f"mqtt://127.0.0.1:{port}", embedded=True)
    finally:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await broker.shutdown()


@contextlib.asynccontextmanager
async def demo_broker(url: str | None, *, force_embedded: bool = False) -> AsyncIterator[DemoBroker]:
    """The broker at `url` if given; else the local Mosquitto if reachable; else an embedded one."""
    if url is not None:
        yield DemoBroker(url, embedded=False)
        return
    if not force_embedded and await reachable(LOCAL_URL):
        yield DemoBroker(LOCAL_URL, embedded=False)
        return
    async with embedded_broker() as broker:
        yield broker
