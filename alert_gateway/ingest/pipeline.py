"""Read → parse → batch → commit → acknowledge → tell the device. Nothing is acked before commit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiomqtt
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from devices.contract import (
    ActivityMessage,
    Channel,
    DeviceState,
    FeedbackMessage,
    FeedbackState,
    HeartbeatMessage,
)

from ..clock import Clock
from ..db.engine import SessionFactory
from ..escalation.intake import Intake
from ..metrics import Metrics
from ..settings import Settings
from .acks import AckBatch, ack
from .connection import MqttConnection
from .heartbeats import LastSeenBuffer
from .hotcounts import TurnCounts
from .parse import Incoming, Rejection, parse_message
from .store import BatchResult, Receipt, store_batch

log = logging.getLogger(__name__)

_OWN_FEEDBACK = "/" + Channel.FEEDBACK.value
BatchListener = Callable[[BatchResult], Awaitable[None]]
DeviceListener = Callable[[Incoming], None]  # status / activity; in-memory, no I/O
# `received` publishes awaiting their PUBACK at once. aiomqtt scans every pending call on each
# publish, so thousands in flight cost quadratic time (in a 10,000-alarm storm, more than storing).
FEEDBACK_IN_FLIGHT = 256
FEEDBACK_BACKLOG = 50_000  # receipts queued for sending beyond which the writer waits


@dataclass(slots=True)
class _Pending:
    client: aiomqtt.Client
    message: aiomqtt.Message
    item: Incoming | Rejection


class IngestPipeline:
    """Turns broker messages into committed rows, then PUBACKs them and publishes `received`."""

    def __init__(
        self,
        settings: Settings,
        sessions: SessionFactory,
        clock: Clock,
        metrics: Metrics,
        heartbeats: LastSeenBuffer,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._clock = clock
        self._metrics = metrics
        self.heartbeats = heartbeats
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=20_000)
        self._idle = asyncio.Event()
        self._idle.set()
        self._batch_lock = asyncio.Lock()  # drain waits for the batch in progress (and its feedback)
        self.batch_listeners: list[BatchListener] = []
        # plans and claims stored alarms' first sends in the storing transaction (escalation wiring)
        self.intake: Intake | None = None
        self.device_listeners: list[DeviceListener] = []
        self._outbox: deque[tuple[Receipt, FeedbackState]] = deque()
        self._senders: set[asyncio.Task[None]] = set()
        self._outbox_room = asyncio.Event()
        self._outbox_room.set()
        self.connection = MqttConnection(settings, metrics, self.handle, drain=self.drain)
        # the hot path: labelled counters looked up once, PUBACKs of one loop turn sent together
        self._receipt_acks = AckBatch()
        self._counts = TurnCounts()
        accepted = metrics.mqtt_messages.labels
        self._accepted = {
            Channel.HEARTBEAT: accepted(kind="heartbeat", result="accepted"),
            Channel.ACTIVITY: accepted(kind="activity", result="accepted"),
            Channel.STATUS: accepted(kind="status", result="accepted"),
        }

    async def handle(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        """Called for every message, in order; keep it cheap (heartbeats are the bulk)."""
        if message.topic.value.endswith(_OWN_FEEDBACK):  # our own output, echoed by the broker
            self._receipt_acks.add(client, message)
            return
        payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
        item = parse_message(
            message.topic.value,
            payload,
            topics=self.connection.topics,
            max_bytes=self._settings.max_payload_bytes,
            received_at=self._clock.now(),
        )
        if isinstance(item, Incoming) and item.channel in (
            Channel.HEARTBEAT,
            Channel.ACTIVITY,
            Channel.STATUS,
        ):
            self._note_device(item)
            # not an emergency: last-seen is flushed in batches by design, so acked on receipt
            self._receipt_acks.add(client, message)
            return
        if isinstance(item, Rejection):
            log.warning(
                "mqtt message rejected: %s",
                item.detail,
                extra={"device_id": item.device_id, "reason": item.reason.value},
            )
            self._metrics.mqtt_rejected.labels(reason=item.reason.value).inc()
        self._idle.clear()
        await self._queue.put(_Pending(client, message, item))

    def _note_device(self, item: Incoming) -> None:
        msg = item.message
        self._counts.inc(self._accepted[item.channel])
        if isinstance(msg, HeartbeatMessage):
            self._counts.inc(self._metrics.heartbeats)
            self.heartbeats.note(item.device_id, item.received_at, battery=msg.battery, firmware=msg.firmware)
        elif isinstance(msg, ActivityMessage):
            self.heartbeats.note(item.device_id, item.received_at)
        elif msg is DeviceState.ONLINE:
            self.heartbeats.note(item.device_id, item.received_at)
        for listener in self.device_listeners:
            listener(item)

    async def run_writer(self, stop: asyncio.Event) -> None:
        """Commit batches until stopped; a failing database is retried, never skipped."""
        while not stop.is_set():
            getter = asyncio.create_task(self._queue.get())
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not getter.done():
                getter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await getter
                break
            await self._commit_with_retry(self._take_batch(getter.result()))

    def _take_batch(self, first: _Pending) -> list[_Pending]:
        batch = [first]
        while len(batch) < self._settings.ingest_batch_size and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def drain(self) -> None:
        """Commit and ack everything already read (graceful shutdown), while still connected."""
        async with self._batch_lock:
            pass
        while not self._queue.empty():
            await self._commit_with_retry(self._take_batch(self._queue.get_nowait()))
        while self._senders:  # they stop when the outbox is empty
            await asyncio.wait(set(self._senders))

    @property
    def backlog(self) -> int:
        """Alarms, cancels and rejections read from the broker and waiting for their batch."""
        return self._queue.qsize()

    async def wait_idle(self) -> None:
        """Until every message read so far is committed (tests and benchmarks await this)."""
        await self._idle.wait()

    async def _commit_with_retry(self, batch: list[_Pending]) -> None:
        async with self._batch_lock:
            await self._commit_and_tell(batch)

    async def _commit_and_tell(self, batch: list[_Pending], *, again: bool = True) -> None:
        delay = 0.1
        while True:
            try:
                result = await self._commit(batch)
                break
            except IntegrityError:
                # Another replica stored one of these after we looked. Looking again finds it (a
                # duplicate, acknowledged); if it still fails, halve the batch until the one
                # message is alone, so the rest land without a transaction each.
                if again:
                    await self._commit_and_tell(batch, again=False)
                    return
                if len(batch) > 1:
                    half = len(batch) // 2
                    await self._commit_and_tell(batch[:half], again=False)
                    await self._commit_and_tell(batch[half:], again=False)
                    return
                log.info("message already stored by another replica")
                result = BatchResult(receipts=[])
                break
            except (SQLAlchemyError, OSError) as exc:
                log.error("database unavailable, batch kept unacknowledged: %s", exc)
                await asyncio.sleep(delay)  # bounded backoff; the broker keeps the unacked messages
                delay = min(delay * 2, 5.0)
        for pending in batch:
            ack(pending.client, pending.message)
        await self._after_commit(result)
        if self._queue.empty():
            self._idle.set()

    async def _commit(self, batch: list[_Pending]) -> BatchResult:
        s = self._settings
        started = time.perf_counter()
        async with self._sessions() as session:
            result = await store_batch(
                session,
                [p.item for p in batch],
                now=self._clock.now(),
                skew_limit=s.clock_skew_seconds,
                cancel_min_seconds=s.cancel_min_seconds,
                cancel_grace_seconds=s.cancel_grace_seconds,
                intake=self.intake,
            )
            await session.commit()
        self._metrics.ingest_batch_seconds.observe(time.perf_counter() - started)
        return result

    async def _after_commit(self, result: BatchResult) -> None:
        if self.intake is not None:  # first: the claimed sends wait for nothing else
            self.intake.hand_over(result.first_steps, more_waiting=not self._queue.empty())
        for (kind, outcome), count in result.outcomes.items():
            self._metrics.mqtt_messages.labels(kind=kind, result=outcome).inc(count)
        opened = Counter((alert.type, alert.severity) for alert in result.opened)
        for (alert_type, severity), count in opened.items():
            self._metrics.alerts_opened.labels(type=alert_type, severity=severity).inc(count)
        if log.isEnabledFor(logging.INFO):
            for alert in result.opened:
                log.info(
                    "alert opened",
                    extra={
                        "alert_id": alert.id,
                        "device_id": alert.device_id,
                        "type": alert.type,
                        "severity": alert.severity,
                    },
                )
        for listener in self.batch_listeners:
            await listener(result)
        # The next batch does not wait for these PUBACKs (a round trip each); only a backlog
        # beyond FEEDBACK_BACKLOG holds the writer back. Each publish has its own timeout.
        for receipts, state in ((result.receipts, FeedbackState.RECEIVED),
                                (result.cancelled, FeedbackState.CANCELLED)):
            if receipts:
                await self._outbox_room.wait()
                self._outbox.extend((receipt, state) for receipt in receipts)
        if len(self._outbox) >= FEEDBACK_BACKLOG:
            self._outbox_room.clear()
        while self._outbox and len(self._senders) < min(FEEDBACK_IN_FLIGHT, len(self._outbox)):
            sender = asyncio.create_task(self._send_outbox())
            self._senders.add(sender)
            sender.add_done_callback(self._senders.discard)

    async def _send_outbox(self) -> None:
        """One of up to FEEDBACK_IN_FLIGHT senders; ends when the outbox is empty."""
        while self._outbox:
            receipt, state = self._outbox.popleft()
            if len(self._outbox) < FEEDBACK_BACKLOG:
                self._outbox_room.set()
            await self.send_feedback(receipt, state)

    async def send_feedback(self, receipt: Receipt, state: FeedbackState) -> bool:
        """Tell a base unit about its alarm (received, acknowledged, help on the way ...)."""
        message = FeedbackMessage(
            ref=receipt.message_id, state=state, ts=self._clock.now(), alert_id=receipt.alert_id
        )
        topic = self.connection.topics.for_device(receipt.device_id, Channel.FEEDBACK)
        return await self.connection.publish(topic, message.model_dump_json().encode(), qos=1)
