"""paho's per-message costs, cut at the edge: large socket reads and shared v5 property tables.

Heartbeats are tens of thousands of small PUBLISHes a second, and in paho 2.2 each one costs:

* three or more `recv` system calls (command byte, length bytes, body), with aiomqtt running one
  `loop_read` (one packet) per readable event. `BufferedSocket` makes one `recv` fetch up to
  256 KiB; its `pending()` is what aiomqtt already checks for TLS sockets to keep calling
  `loop_read` until the buffer is empty, so a burst is parsed in one callback.
* paho's topic-filter tree, walked for every message although aiomqtt registers no filter:
  `LeanMatcher` answers "none" at once while the tree is empty.
* aiomqtt's message iterator, one task per message: `take_queued` hands over the rest of a
  burst directly.
* on MQTT v5, a `Properties` object whose constructor rebuilds two lookup tables (27 names,
  27 property kinds) and whose `clear()` runs 27 string replaces, about 10-15 µs per PUBLISH.
  `LeanProperties` shares the tables (paho only reads them) and skips clearing a fresh object.

Like acks.py, this reaches into private parts (pyproject.toml pins aiomqtt 2.5.x and paho 2.2.x);
`missing_internals` checks at start that they are still there, and the connection falls back to
aiomqtt's own reader if not. TLS, unix and websocket transports keep paho's own socket.
Behaviour is unchanged: tests decode the same packets both ways.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import aiomqtt
from paho.mqtt.matcher import MQTTMatcher
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

try:
    from paho.mqtt import _packet as paho_packet
except ImportError:  # a paho outside the pin: missing_internals says so, tune() is not used
    paho_packet = None  # type: ignore[assignment]

RECV_BYTES = 256 * 1024


class BufferedSocket:
    """A non-blocking TCP socket whose `recv` serves small reads from one large read."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._data = b""
        self._pos = 0
        self._may_refill = True  # one socket read per readable event, then yield the loop

    def recv(self, bufsize: int) -> bytes:
        """Up to `bufsize` bytes; b'' at end of stream; BlockingIOError when nothing is there."""
        if self._pos >= len(self._data):
            if not self._may_refill:
                # A packet straddles the chunk: finish it on the next readable event. Reading on
                # here would keep aiomqtt's callback going for as long as data arrives, and the
                # task that handles (and acks) the messages would never run.
                raise BlockingIOError
            self._may_refill = False
            data = self._sock.recv(RECV_BYTES)
            if not data:
                return data
            self._data, self._pos = data, 0
        end = self._pos + bufsize
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def send(self, data: bytes) -> int:
        """As socket.send (named here: this is called per write, __getattr__ is slower)."""
        return self._sock.send(data)

    def pending(self) -> int:
        """Bytes read and not yet handed to paho; aiomqtt stops its read callback at 0."""
        left = len(self._data) - self._pos
        if left <= 0:
            self._may_refill = True
            return 0
        return left

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)  # send, fileno, close, setblocking, ...


_TABLES = Properties(PacketTypes.PUBLISH)
_BASE_ATTRS = frozenset(("packetType", "types", "names", "properties"))


class LeanProperties(Properties):  # type: ignore[misc]
    """paho's v5 Properties with its lookup tables shared instead of rebuilt per packet."""

    def __init__(self, packetType: int) -> None:
        self.packetType = packetType
        self.types = _TABLES.types
        self.names = _TABLES.names
        self.properties = _TABLES.properties

    def clear(self) -> None:
        """Drop decoded values; a fresh object (the usual case in `unpack`) has none."""
        if len(self.__dict__) > len(_BASE_ATTRS):
            for name in [n for n in self.__dict__ if n not in _BASE_ATTRS]:
                delattr(self, name)


class LeanMatcher(MQTTMatcher):  # type: ignore[misc]
    """paho's per-topic callback filters; with none registered (aiomqtt adds none), no tree walk."""

    def iter_match(self, topic: str) -> Iterator[Any]:
        """Filters matching `topic`: nothing at all while the tree is empty."""
        if not self._root._children:
            return iter(())
        return super().iter_match(topic)  # type: ignore[no-any-return]


# The private names `tune` and `take_queued` use, as paths from an aiomqtt.Client ...
CLIENT_INTERNALS = (
    "_client._create_socket",
    "_client._on_message_filtered._root._children",
    "_queue.get_nowait",
)
# ... from paho's packet module, whose decoders look `Properties` up there per call ...
PACKET_INTERNALS = ("Properties",)
# ... and from a paho Properties object, whose tables LeanProperties shares.
PROPERTIES_INTERNALS = ("types", "names", "properties")


def missing_internals(
    client: object, packet_module: object | None = paho_packet, properties: object = _TABLES
) -> list[str]:
    """Those private names that are missing; any at all means: use aiomqtt's own reader."""
    places = (
        ("aiomqtt.Client", client, CLIENT_INTERNALS),
        ("paho.mqtt._packet", packet_module, PACKET_INTERNALS),
        ("paho Properties", properties, PROPERTIES_INTERNALS),
    )
    return [f"{name}.{path}" for name, obj, paths in places for path in paths if not _has(obj, path)]


def _has(obj: object, path: str) -> bool:
    for name in path.split("."):
        if not hasattr(obj, name):
            return False
        obj = getattr(obj, name)
    return True


def tune(client: aiomqtt.Client) -> None:
    """Before connecting: buffered reads on plain TCP, lean properties for incoming packets.

    Only for a client with nothing in `missing_internals`.
    """
    paho_packet.Properties = LeanProperties  # type: ignore[misc]  # decode_* look it up per call
    paho = client._client
    if not paho._on_message_filtered._root._children:
        paho._on_message_filtered = LeanMatcher()
    create = paho._create_socket

    def create_buffered() -> Any:
        sock = create()
        return BufferedSocket(sock) if type(sock) is socket.socket else sock

    paho._create_socket = create_buffered  # type: ignore[method-assign]


def take_queued(client: aiomqtt.Client) -> Iterator[aiomqtt.Message]:
    """Messages aiomqtt has already queued, without its task and wait per message.

    `async for m in client.messages` creates a task and an `asyncio.wait` for every message, so
    it hands over about one message per loop turn while a buffered read queues thousands per
    turn; under load the queue would only grow. Call this after each message of the `async for`.
    """
    queue = client._queue
    while True:
        try:
            yield queue.get_nowait()
        except asyncio.QueueEmpty:
            return
