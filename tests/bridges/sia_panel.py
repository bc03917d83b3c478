"""A simulated alarm panel: builds SIA DC-09 frames by hand and sends them over a real TCP socket.

Independent of our receiver's code: the CRC is pysiaalarm's own CRC-16/ARC and the AES-CBC
encryption (zero IV, key = the hex string's characters, padding before `|`) is pycryptodome's,
as pysiaalarm's own tests build them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from Crypto.Cipher import AES
from pysiaalarm import SIAEvent

REPLY_SECONDS = 15.0  # a bound: each read returns as soon as the receiver answers


def frame(account: str, sequence: int, content: str, *, at: datetime, key: str | None = None,
          message_type: str = "SIA-DCS", bad_crc: bool = False) -> bytes:
    """One framed message, e.g. content `Nri1/PA501` (zone 1, panic, user 501)."""
    stamp = at.astimezone(UTC).strftime("_%H:%M:%S,%m-%d-%Y")
    data = f"#{account}|{content}]{stamp}" if content else f"]{stamp}"
    if key is not None:
        plain = f"|{data}"
        plain = "0" * (-len(plain) % 16) + plain
        cipher = AES.new(key.encode("ascii"), AES.MODE_CBC, bytes(16))
        data = cipher.encrypt(plain.encode("ascii")).hex().upper()
        message_type = f"*{message_type}"
    body = f'"{message_type}"{sequence:04d}R0L0#{account}[{data}'
    crc = SIAEvent._crc_calc(body) or ""  # pysiaalarm's CRC-16/ARC, not ours
    if bad_crc:
        crc = f"{int(crc, 16) ^ 0x0101:04X}"
    return f"\n{crc}{len(body):04X}{body}\r".encode("ascii")


@dataclass(frozen=True)
class Reply:
    """What the receiver answered."""

    kind: str  # ACK, *ACK, NAK, DUH
    body: str
    crc_ok: bool


class Panel:
    """One TCP connection to the receiver, as a panel holds it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> Panel:
        """Connect to a receiver on this machine."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, raw: bytes) -> Reply:
        """Send a frame and read the answer."""
        self.writer.write(raw)
        await self.writer.drain()
        async with asyncio.timeout(REPLY_SECONDS):
            line = (await self.reader.readuntil(b"\r")).decode("ascii").strip("\r\n")
        crc, body = line[:4], line[8:]
        return Reply(body[1:].split('"', 1)[0], body, SIAEvent._crc_calc(body) == crc)

    async def close(self) -> None:
        """Hang up."""
        self.writer.close()
        await self.writer.wait_closed()


class _OneDatagram(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.closed = asyncio.Event()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()

    def datagram_received(self, data: bytes, addr: object) -> None:
        if not self.answer.done():
            self.answer.set_result(data)


async def send_udp(port: int, raw: bytes) -> Reply:
    """Send one frame as a UDP datagram and read the answer datagram."""
    transport, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
        _OneDatagram, remote_addr=("127.0.0.1", port))
    try:
        transport.sendto(raw)
        async with asyncio.timeout(REPLY_SECONDS):
            line = (await protocol.answer).decode("ascii").strip("\r\n")
    finally:
        transport.close()
        await protocol.closed.wait()
    crc, body = line[:4], line[8:]
    return Reply(body[1:].split('"', 1)[0], body, SIAEvent._crc_calc(body) == crc)
