"""A minimal MQTT 3.1.1 client on raw asyncio streams: pre-built packets, so it costs the load
generator about a microsecond per message and never limits the gateway it measures."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

OnPublish = Callable[[str, bytes, float], None]


def varint(n: int) -> bytes:
    """MQTT remaining-length encoding."""
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s: bytes) -> bytes:
    return len(s).to_bytes(2, "big") + s


def publish_prefix(topic: str, payload_len: int, qos: int) -> bytes:
    """Fixed header and topic of a PUBLISH whose payload length is known; add id + payload."""
    t = _str(topic.encode())
    remaining = len(t) + (2 if qos else 0) + payload_len
    return bytes([0x30 | (qos << 1)]) + varint(remaining) + t


class RawMqtt:
    """One connection: write pre-built PUBLISHes, count PUBACKs, pass PUBLISHes to a callback."""

    def __init__(self, client_id: str, on_publish: OnPublish | None = None) -> None:
        self.client_id = client_id
        self.on_publish = on_publish
        self.pubacks = 0
        self.received = 0
        self._pid = 0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._suback = asyncio.Event()

    async def connect(self, port: int, host: str = "127.0.0.1") -> None:
        """Open a clean session with keepalive off; wait for CONNACK."""
        self._reader, self._writer = await asyncio.open_connection(host, port, limit=2**22)
        var = _str(b"MQTT") + bytes([4, 0x02]) + (0).to_bytes(2, "big")
        body = var + _str(self.client_id.encode())
        self._writer.write(b"\x10" + varint(len(body)) + body)
        head = await self._reader.readexactly(4)
        if head[0] != 0x20 or head[3] != 0:
            raise ConnectionError(f"CONNACK refused: {head!r}")
        self._task = asyncio.create_task(self._read_loop())

    def next_pid(self) -> bytes:
        """A packet id 1..65535 (QoS 1 inbound ids may be reused once acked)."""
        self._pid = self._pid % 65535 + 1
        return self._pid.to_bytes(2, "big")

    def write(self, data: bytes) -> None:
        """Queue bytes on the socket."""
        assert self._writer is not None
        self._writer.write(data)

    async def drain(self) -> None:
        """Wait until the socket buffer has room."""
        assert self._writer is not None
        await self._writer.drain()

    async def subscribe(self, topic: str, qos: int = 0) -> None:
        """Subscribe and wait for SUBACK."""
        body = self.next_pid() + _str(topic.encode()) + bytes([qos])
        self.write(b"\x82" + varint(len(body)) + body)
        await asyncio.wait_for(self._suback.wait(), 10)

    async def _read_loop(self) -> None:
        r = self._reader
        assert r is not None
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                first = (await r.readexactly(1))[0]
                mult, length = 1, 0
                while True:
                    b = (await r.readexactly(1))[0]
                    length += (b & 0x7F) * mult
                    mult *= 128
                    if not b & 0x80:
                        break
                body = await r.readexactly(length) if length else b""
                kind = first >> 4
                if kind == 4:
                    self.pubacks += 1
                elif kind == 3:
                    self._publish(first, body)
                elif kind == 9:
                    self._suback.set()

    def _publish(self, first: int, body: bytes) -> None:
        now = time.perf_counter()
        tlen = int.from_bytes(body[:2], "big")
        topic = body[2 : 2 + tlen].decode()
        qos = (first >> 1) & 3
        start = 2 + tlen
        if qos:
            self.write(b"\x40\x02" + body[start : start + 2])
            start += 2
        self.received += 1
        if self.on_publish is not None:
            self.on_publish(topic, body[start:], now)

    async def close(self) -> None:
        """Send DISCONNECT and close."""
        if self._writer is not None:
            with contextlib.suppress(ConnectionError):
                self._writer.write(b"\xe0\x00")
                await self._writer.drain()
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
