"""Read → parse → batch → commit → acknowledge → tell the device. Nothing is acked before commit."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiomqtt

from devices.contract import (
    ActivityMessage,
    Channel,
    DeviceState,
    FeedbackState,
    HeartbeatMessage,
)

from ..clock import Clock
from ..db.engine import SessionFactory
from ..db.messages import RejectReason
from ..metrics import Metrics
from ..outbox.backlog import Backlog
from ..settings import Settings
from .acks import ack
from .batch import BatchResult
from .committer import BatchCommitter
from .connection import MqttConnection
from .dberrors import describe
from .heartbeats import LastSeenBuffer
from .hotcounts import TurnCounts
from .parse import Incoming, Rejection, parse_message
from .progress import StoredProgress
from .receipts import FeedbackPublisher

log = logging.getLogger(__name__)
# Loop turns from the broker's socket to this pipeline's queue: paho's read into aiomqtt's queue,
# aiomqtt's task per message, its wait, our reader (connection.py).
READER_TURNS = 4

BatchListener = Callable[[BatchResult], Awaitable[None]]
DeviceListener = Callable[[Incoming], None]  # status / activity; in-memory, no I/O



@dataclass(slots=True)
class _Pending:
    client: aiomqtt.Client
    message: aiomqtt.Message
    item: Incoming | Rejection
    read_at: float = field(default_factory=time.monotonic)


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
        # Set when a message is queued (or the writer must stop): the writer waits on it alone.
        # Waiting on a get() task and a stop task together cost an alarm two more turns of the
        # event loop, each behind everything else ready (a sweep's callbacks).
        self._arrived = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        # background work (the sweep runner) awaits `progress.caught_up()` to go after alarms
        self.progress = StoredProgress()
        self._batch_lock = asyncio.Lock()  # drain waits for the batch in progress (and its feedback)
        self.batch_listeners: list[BatchListener] = []
        self.committer = BatchCommitter(settings, sessions, clock, metrics,
                                        in_storm=lambda: self.backlog_now is Backlog.STORM)
        self.device_listeners: list[DeviceListener] = []
        self.connection = MqttConnection(settings, metrics, self.handle, drain=self.drain, clock=clock)
        self.feedback = FeedbackPublisher(self.connection, clock)
        # read time of every message not yet acknowledged or given up: a stuck ingest shows
        self._unsettled: dict[int, float] = {}  # id(_Pending) -> monotonic read time
        metrics.ingest_oldest_pending_seconds.set_function(self.oldest_pending_seconds)
        # the hot path: labelled counters looked up once
        self._counts = TurnCounts()
        accepted = metrics.mqtt_messages.labels
        self._accepted = {
            Channel.HEARTBEAT: accepted(kind="heartbeat", result="accepted"),
            Channel.ACTIVITY: accepted(kind="activity", result="accepted"),
            Channel.STATUS: accepted(kind="status", result="accepted"),
        }

    async def handle(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        """Called for every message, in order; keep it cheap (heartbeats are the bulk)."""
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
            self._note_device(item, retained=bool(message.retain))
            # Not an emergency, so acked on receipt: last-seen is flushed in batches by design and
            # the broker retains the status. Heartbeats and activity come at QoS 0 (connection.py),
            # so this acks only a status, or a heartbeat an older session still delivers at QoS 1.
            ack(client, message)
            return
        if isinstance(item, Rejection):
            log.warning(
                "mqtt message rejected: %s",
                item.detail,
                extra={"device_id": item.device_id, "reason": item.reason.value},
            )
            self._metrics.mqtt_rejected.labels(reason=item.reason.value).inc()
        self._idle.clear()
        self.progress.read()
        pending = _Pending(client, message, item)
        self._unsettled[id(pending)] = pending.read_at
        await self._queue.put(pending)
        self._arrived.set()

    def _note_device(self, item: Incoming, *, retained: bool) -> None:
        msg = item.message
        self._counts.inc(self._accepted[item.channel])
        if isinstance(msg, HeartbeatMessage):
            self._counts.inc(self._metrics.heartbeats)
            self.heartbeats.note(item.device_id, item.received_at, battery=msg.battery, firmware=msg.firmware)
        elif isinstance(msg, ActivityMessage):
            self.heartbeats.note(item.device_id, item.received_at)
        elif msg is DeviceState.ONLINE and not retained:
            # a retained "online" is the broker replaying old news on (re)subscribe, not a sighting:
            # counted, it would bring a silent device back online after every restart
            self.heartbeats.note(item.device_id, item.received_at)
        for listener in self.device_listeners:
            listener(item)

    async def run_writer(self, stop: asyncio.Event) -> None:
        """Commit batches until stopped; a failing database is retried, never skipped."""
        relay = asyncio.create_task(self._wake_on(stop))
        try:
            while not stop.is_set():
                if self._queue.empty():
                    self._arrived.clear()
                    await self._arrived.wait()
                    continue
                await self._commit_with_retry(self._take_batch(self._queue.get_nowait()))
        finally:
            relay.cancel()
            await self.progress.stopped()

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._arrived.set()

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
        await self.feedback.sent()

    @property
    def backlog(self) -> int:
        """Alarms, cancels and rejections read from the broker and waiting for their batch."""
        return self._queue.qsize()

    @property
    def backlog_now(self) -> Backlog:
        """What waits to be stored, as the sends see it."""
        return Backlog.of(self.backlog)

    @property
    def unacknowledged(self) -> int:
        """Messages read from the broker and not yet acknowledged: queued or in a batch."""
        return len(self._unsettled)

    def oldest_pending_seconds(self) -> float:
        """Age of the oldest message read and not yet acknowledged (0 when none)."""
        oldest = min(self._unsettled.values(), default=None)
        return 0.0 if oldest is None else time.monotonic() - oldest

    async def wait_idle(self) -> None:
        """Until every message read so far is committed (tests and benchmarks await this)."""
        await self._idle.wait()

    async def _commit_with_retry(self, batch: list[_Pending]) -> None:
        async with self._batch_lock:
            await self._store(batch)
        if self._queue.empty():
            self._idle.set()
        await self.progress.stored(len(batch))

    async def _store(self, batch: list[_Pending]) -> None:
        """Commit, then acknowledge; on a data error, halve until each failing message is alone.

        The messages that can be stored land in few transactions (about two per halving level),
        and only the failing ones are set apart: one bad message never holds back the others.
        """
        items = [p.item for p in batch]
        outcome = await self.committer.commit_while_unavailable(items)
        if not isinstance(outcome, BatchResult) and self.committer.intake is not None:
            # Planning the first steps must never keep an alarm from being stored: store the
            # batch alone, its steps left due for the engine (which retries them and says why).
            log.error("first escalation steps not planned with their batch, left to the engine: %s",
                      describe(outcome))
            outcome = await self.committer.commit_while_unavailable(items, plan=False)
        if isinstance(outcome, BatchResult):
            self._acknowledge(batch)
            await self._after_commit(outcome, burst=len(batch) > 1)
        elif len(batch) > 1:
            half = len(batch) // 2
            await self._store(batch[:half])
            await self._store(batch[half:])
        else:
            await self._set_apart(batch[0], outcome)

    async def _set_apart(self, pending: _Pending, error: Exception) -> None:
        """Keep a message the database refuses as a rejection (an alarm still raises a P1), then
        acknowledge it; if even that cannot be stored, leave it unacknowledged for redelivery."""
        item = pending.item
        payload = pending.message.payload
        first = f" (first rejected as {item.reason.value})" if isinstance(item, Rejection) else ""
        rejection = Rejection(
            pending.message.topic.value,
            payload if isinstance(payload, bytes) else str(payload).encode(),
            RejectReason.UNSTORABLE,
            f"the database refused it as it stands: {describe(error)}{first}",
            item.received_at,
            item.device_id,
            item.channel,
        )
        extra = {"device_id": item.device_id, "reason": RejectReason.UNSTORABLE.value}
        log.error("message cannot be stored, kept as rejected: %s", describe(error), extra=extra)
        self._metrics.mqtt_rejected.labels(reason=RejectReason.UNSTORABLE.value).inc()
        outcome = await self.committer.commit_while_unavailable([rejection])
        if isinstance(outcome, BatchResult):
            self._acknowledge([pending])
            await self._after_commit(outcome)
            return
        log.critical("message neither stored nor kept as rejected, left unacknowledged: %s",
                     describe(outcome), extra=extra)
        self._metrics.ingest_unacknowledged.inc()
        self._unsettled.pop(id(pending), None)  # the broker redelivers it after a reconnection

    def _acknowledge(self, batch: list[_Pending]) -> None:
        for pending in batch:
            ack(pending.client, pending.message)
            self._unsettled.pop(id(pending), None)

    async def _after_commit(self, result: BatchResult, *, burst: bool = False) -> None:
        if burst and self._queue.empty():
            # The burst's next messages may be on their way here: on SQLite the transaction gave
            # the loop no turn to read them (db/sqlite_inline.py). Seen empty, a storm's first
            # batch would let its P3s' sends go ahead of the P1s still unread.
            for _ in range(READER_TURNS):
                await asyncio.sleep(0)
        intake = self.committer.intake
        if intake is not None:  # first: the claimed sends wait for nothing else
            intake.hand_over(result.first_steps, backlog=self.backlog_now)
        result.count(self._metrics)
        for listener in self.batch_listeners:
            await listener(result)
        for receipts, state in ((result.receipts, FeedbackState.RECEIVED),
                                (result.cancelled, FeedbackState.CANCELLED)):
            if receipts:
                await self.feedback.queue(receipts, state)
