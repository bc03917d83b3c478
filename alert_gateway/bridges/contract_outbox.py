"""A durable outbox of device-contract messages, for bridges that speak for devices.

Rows live in a small SQLite file, so a bridge or gateway restart loses nothing. Each row is
published at QoS 1; an alarm (a row with a message id) stays until the gateway's `received`
feedback for that id, and is re-sent with the contract's backoff (5, 10, 20, 40 s, then the cap)
meanwhile; any other row is done at its PUBACK. Callers add rows inside `transaction()`, together
with their own state in the same file, so a crash never keeps one without the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import aiosqlite

from devices.contract import Channel, FeedbackState, Topics

from ..clock import Clock

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 10.0
FIRST_RETRY_SECONDS = 5.0  # devices/README.md: back off 5 s, 10 s, 20 s, 40 s, then every 60 s
SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    retain INTEGER NOT NULL,
    device_id TEXT,
    message_id TEXT,          -- set: wait for `received`; NULL: done at PUBACK
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_receipt ON outbox (device_id, message_id);
"""


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One message to publish to the gateway's broker."""

    topic: str
    payload: bytes
    retain: bool = False
    device_id: str | None = None
    message_id: str | None = None  # an alarm id: kept until `received` for it


class ContractOutbox:
    """Publishes queued rows in order, re-sends alarms until received; reconnects with backoff."""

    def __init__(self, path: Path, topics: Topics, devices: Sequence[str], *, clock: Clock,
                 make_client: Callable[[], aiomqtt.Client], retry_max_seconds: float) -> None:
        self._path = path
        self._topics = topics
        # Only these devices' feedback: the whole tree's would bring every other device's too.
        self._feedback = [(topics.for_device(d, Channel.FEEDBACK), 1) for d in devices]
        self._clock = clock
        self._make_client = make_client
        self._retry_max = retry_max_seconds
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()  # one transaction at a time on the shared connection
        self._wake = asyncio.Event()
        self.changed = asyncio.Condition()  # notified after each publish and receipt (tests, health)
        self.publishes = 0
        self.pending = 0
        self.connected = asyncio.Event()

    async def open(self) -> None:
        """Open (or create) the file; rows left by a previous run are sent first."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self._path)
        await self._db.executescript(SCHEMA)
        await self._db.commit()
        await self._count()

    async def close(self) -> None:
        """Close the file."""
        if self._db is not None:
            await self._db.close()
            self._db = None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """The connection, alone, committed on exit (rolled back on an error)."""
        assert self._db is not None, "open() first"
        async with self._lock:
            try:
                yield self._db
                await self._db.commit()
            except BaseException:
                await self._db.rollback()
                raise

    @staticmethod
    async def add(db: aiosqlite.Connection, messages: Sequence[OutboxMessage]) -> None:
        """Queue messages inside a `transaction()`; await `queued()` after it commits."""
        await db.executemany(
            "INSERT INTO outbox (topic, payload, retain, device_id, message_id) VALUES (?, ?, ?, ?, ?)",
            [(m.topic, m.payload, int(m.retain), m.device_id, m.message_id) for m in messages])

    async def queued(self) -> None:
        """Rows were committed: count them and send them now."""
        await self._count()
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, listen for feedback and send until `stop`; reconnect with bounded backoff."""
        waker = asyncio.create_task(self._wake_on(stop))
        backoff = 0.2
        try:
            while not stop.is_set():
                try:
                    async with self._make_client() as client:
                        if self._feedback:
                            await client.subscribe(self._feedback)
                        self.connected.set()
                        backoff = 0.2
                        await self._serve(client, stop)
                except (aiomqtt.MqttError, TimeoutError) as exc:
                    log.warning("outbox: gateway broker connection lost: %r", exc)
                finally:
                    self.connected.clear()
                if not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), backoff)
                    backoff = min(backoff * 2, self._retry_max)
        finally:
            waker.cancel()

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

    async def _serve(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        reader = asyncio.create_task(self._read_feedback(client))
        try:
            everything = True  # after a (re)connection every waiting alarm goes again at once
            while not stop.is_set() and not reader.done():
                self._wake.clear()
                await self._send_due(client, everything=everything)
                everything = False
                await self._clock.wait(await self._next_due(), self._wake)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await reader

    async def _send_due(self, client: aiomqtt.Client, *, everything: bool) -> None:
        now = self._clock.now().timestamp()
        async with self.transaction() as db:
            rows = list(await db.execute_fetchall(
                "SELECT seq, topic, payload, retain, message_id, attempts FROM outbox "
                "WHERE next_at <= ? ORDER BY seq", (float("inf") if everything else now,)))
        for seq, topic, payload, retain, message_id, attempts in rows:
            async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):
                await client.publish(topic, payload, qos=1, retain=bool(retain))
            async with self.transaction() as db:
                if message_id is None:
                    await db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
                else:
                    delay = min(FIRST_RETRY_SECONDS * 2 ** attempts, self._retry_max)
                    await db.execute("UPDATE outbox SET attempts = ?, next_at = ? WHERE seq = ?",
                                     (attempts + 1, now + delay, seq))
            await self._count()
            self.publishes += 1  # after the count: `pending` is never older than `publishes`

    async def _next_due(self) -> datetime | None:
        async with self.transaction() as db:
            rows = list(await db.execute_fetchall("SELECT min(next_at) FROM outbox"))
        earliest = rows[0][0] if rows else None
        return None if earliest is None else datetime.fromtimestamp(earliest, UTC)

    async def _read_feedback(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            parsed = self._topics.parse(message.topic.value)
            try:
                body = json.loads(message.payload)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue  # not ours to judge: the gateway writes feedback
            if parsed is None or not isinstance(body, dict) or body.get("state") != FeedbackState.RECEIVED:
                continue
            async with self.transaction() as db:
                cursor = await db.execute("DELETE FROM outbox WHERE device_id = ? AND message_id = ?",
                                          (parsed.device_id, str(body.get("ref"))))
            if cursor.rowcount:
                log.info("outbox: alarm received by the gateway",
                         extra={"device_id": parsed.device_id, "message_id": body.get("ref")})
            await self._count()

    async def _count(self) -> None:
        async with self.transaction() as db:
            rows = list(await db.execute_fetchall("SELECT count(*) FROM outbox"))
            self.pending = int(rows[0][0])  # set under the lock: counts land in commit order
        async with self.changed:
            self.changed.notify_all()
