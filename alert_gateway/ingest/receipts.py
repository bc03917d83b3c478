"""Tells base units what became of their alarm: `received`, `cancelled`, `acknowledged` ..."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable

from devices.contract import Channel, FeedbackMessage, FeedbackState

from ..clock import Clock
from .batch import Receipt
from .connection import MqttConnection

# Publishes awaiting their PUBACK at once. aiomqtt scans every pending call on each publish, so
# thousands in flight cost quadratic time (in a 10,000-alarm storm, more than storing).
IN_FLIGHT = 256
BACKLOG = 50_000  # receipts queued for sending beyond which the ingest writer waits


class FeedbackPublisher:
    """Publishes feedback on each device's topic; a batch's receipts go out behind its commit."""

    def __init__(self, connection: MqttConnection, clock: Clock) -> None:
        self._connection = connection
        self._clock = clock
        self._outbox: deque[tuple[Receipt, FeedbackState]] = deque()
        self._senders: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._room.set()

    async def send(self, receipt: Receipt, state: FeedbackState) -> bool:
        """One feedback message, awaited until the broker has it (False: not sent)."""
        message = FeedbackMessage(
            ref=receipt.message_id, state=state, ts=self._clock.now(), alert_id=receipt.alert_id
        )
        topic = self._connection.topics.for_device(receipt.device_id, Channel.FEEDBACK)
        return await self._connection.publish(topic, message.model_dump_json().encode(), qos=1)

    async def queue(self, receipts: Iterable[Receipt], state: FeedbackState) -> None:
        """Send these in the background: the next batch does not wait for their PUBACKs (a round
        trip each); only a backlog beyond BACKLOG holds the caller back."""
        await self._room.wait()
        self._outbox.extend((receipt, state) for receipt in receipts)
        if len(self._outbox) >= BACKLOG:
            self._room.clear()
        while self._outbox and len(self._senders) < min(IN_FLIGHT, len(self._outbox)):
            sender = asyncio.create_task(self._drain_outbox())
            self._senders.add(sender)
            sender.add_done_callback(self._senders.discard)

    async def sent(self) -> None:
        """Until everything queued has been published (graceful shutdown)."""
        while self._senders:  # they stop when the outbox is empty
            await asyncio.wait(set(self._senders))

    async def _drain_outbox(self) -> None:
        while self._outbox:
            receipt, state = self._outbox.popleft()
            if len(self._outbox) < BACKLOG:
                self._room.set()
            await self.send(receipt, state)
