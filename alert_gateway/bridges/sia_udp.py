"""SIA DC-09 over UDP: one frame per datagram, answered to its sender once handled.

A panel on UDP repeats a frame it got no answer for, as on TCP; an answer is sent only once the
frame is handled (for an alarm: committed), never on receipt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

FrameHandler = Callable[[bytes, str], Awaitable[bytes]]  # (raw frame, peer) -> answer


class DatagramReceiver(asyncio.DatagramProtocol):
    """Hands each datagram to the receiver in its own task and sends the answer back."""

    def __init__(self, handle: FrameHandler) -> None:
        self._handle = handle
        self._transport: asyncio.DatagramTransport | None = None
        self._closed = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport to answer on."""
        self._transport = cast(asyncio.DatagramTransport, transport)  # not a subclass in 3.11

    def connection_lost(self, exc: Exception | None) -> None:
        """The socket is closed (it closes on the loop's next turn after `close`)."""
        self._closed.set()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        """One frame: handle it without holding up the next datagram."""
        task = asyncio.create_task(self._answer(data, addr))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _answer(self, data: bytes, addr: Any) -> None:
        reply = await self._handle(data, f"{addr[0]}:{addr[1]}")
        if self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(reply, addr)

    async def close(self) -> None:
        """Stop answering; frames still in hand get no answer (the panel repeats them)."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self._transport is not None:
            self._transport.close()
            await self._closed.wait()
