"""Replicas on one PostgreSQL database tell each other about committed alert changes (LISTEN/NOTIFY).

Every change published on this process's bus goes out as a NOTIFY after its commit; every replica
LISTENs on a dedicated connection and hands other replicas' changes to its local listeners, so an
engine, a dispatcher or a live board wakes within milliseconds for a change made elsewhere. A
notice is only a wake-up: the listeners re-read the database. Nothing arrives while the connection
is down, so after every (re)connect the local listeners look at everything once; this process's
changes made meanwhile wait in the outbox and go out on reconnect.
https://www.postgresql.org/docs/current/sql-notify.html
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import uuid
from collections import OrderedDict
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from ..bus import AlertBus, AlertChange, ChangeKind
from ..metrics import Metrics

log = logging.getLogger(__name__)
CHANNEL = "alert_gateway_changes"
APPLICATION_NAME = "alert-gateway-listen"  # in pg_stat_activity, followed by the replica id
CONNECT_TIMEOUT = 10.0
SEND_TIMEOUT = 10.0
PING_SECONDS = 15.0  # a connection cut without a FIN is only noticed when we use it
BACKOFF_MAX = 10.0
OUTBOX_MAX = 10_000  # beyond this, one "look at everything" replaces the individual notices

_Key = tuple[int, ChangeKind]
_ConnectionErrors = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def connect_kwargs(engine: AsyncEngine) -> dict[str, Any]:
    """asyncpg.connect arguments for the engine's database, read the way SQLAlchemy reads its URL
    (host, port, user, password, database, ssl ...), without SQLAlchemy's own options."""
    _args, kwargs = engine.dialect.create_connect_args(engine.url)
    accepted = inspect.signature(asyncpg.connect).parameters
    return {key: value for key, value in kwargs.items() if key in accepted}


class ReplicaLink:
    """Sends this replica's changes to the others and delivers theirs to the local bus."""

    def __init__(self, engine: AsyncEngine, bus: AlertBus, metrics: Metrics) -> None:
        self.replica_id = uuid.uuid4().hex[:12]  # a replica ignores its own notices
        self.application_name = f"{APPLICATION_NAME}-{self.replica_id}"
        self.connected = asyncio.Event()  # set while listening (tests, logs)
        self._connect = connect_kwargs(engine)
        self._bus = bus
        self._metrics = metrics
        self._outbox: OrderedDict[_Key, AlertChange] = OrderedDict()
        self._queued = asyncio.Event()

    async def send(self, change: AlertChange) -> None:
        """Bus listener for this process's changes: queue a NOTIFY; never waits for the database."""
        if len(self._outbox) >= OUTBOX_MAX:
            resync = AlertChange(0, ChangeKind.RESYNC)
            self._outbox = OrderedDict({(0, resync.kind): resync})
        self._outbox.setdefault((change.alert_id, change.kind), change)
        self._queued.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: listen and send; on a lost connection reconnect with backoff."""
        backoff = 0.2
        connected_before = False
        while not stop.is_set():
            try:
                conn = await asyncpg.connect(
                    **self._connect, timeout=CONNECT_TIMEOUT,
                    server_settings={"application_name": self.application_name})
            except _ConnectionErrors as exc:
                log.warning("replica listener: cannot connect, retrying: %s", exc)
            else:
                try:
                    await self._listen(conn, stop, reconnect=connected_before)
                except _ConnectionErrors as exc:
                    log.warning("replica listener: connection lost, reconnecting: %s", exc)
                finally:
                    if self.connected.is_set():  # it was listening: start the backoff afresh
                        connected_before, backoff = True, 0.2
                    self.connected.clear()
                    self._metrics.replica_listener_connected.set(0)
                    conn.terminate()
            if stop.is_set():
                break
            self._metrics.replica_listener_reconnects.inc()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _listen(self, conn: asyncpg.Connection, stop: asyncio.Event, *, reconnect: bool) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        async with asyncio.timeout(SEND_TIMEOUT):
            await conn.add_listener(CHANNEL, self._received)
        self.connected.set()
        self._metrics.replica_listener_connected.set(1)
        log.info("replica listener %s", "reconnected" if reconnect else "listening",
                 extra={"channel": CHANNEL, "replica": self.replica_id})
        self._bus.resync()  # other replicas' notices sent before this LISTEN never reach us
        while not lost.is_set():
            if self._outbox:
                await self._flush(conn)
                continue
            if stop.is_set():
                return  # the outbox is sent: changes committed before the stop reach the others
            self._queued.clear()
            if not await _first_of(self._queued, stop, lost, within=PING_SECONDS):
                async with asyncio.timeout(SEND_TIMEOUT):
                    await conn.execute("SELECT 1")
        raise ConnectionError("listen connection closed")

    async def _flush(self, conn: asyncpg.Connection) -> None:
        """One round trip for every queued notice; on failure they stay queued, in order."""
        batch, self._outbox = self._outbox, OrderedDict()
        payloads = [json.dumps({"alert_id": c.alert_id, "kind": c.kind, "replica": self.replica_id})
                    for c in batch.values()]
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                await conn.execute("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p",
                                   CHANNEL, payloads)
        except BaseException:
            batch.update(self._outbox)  # newer ones after the unsent ones
            self._outbox = batch
            raise
        self._metrics.replica_notices.labels(direction="sent").inc(len(payloads))

    def _received(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        """asyncpg's notification callback: another replica's change goes to the local listeners."""
        try:
            data = json.loads(payload)
            replica = str(data["replica"])
            # An unknown kind (a newer replica during a rolling upgrade, or garbage) is refused
            # here, never handed on as a string no listener expects; looking at everything
            # still wakes every listener for whatever it was.
            change = AlertChange(int(data["alert_id"]), ChangeKind(str(data["kind"])))
        except (ValueError, KeyError, TypeError):
            log.warning("replica listener: unreadable notice, looking at everything")
            self._bus.resync()
            return
        if replica == self.replica_id:
            return
        self._metrics.replica_notices.labels(direction="received").inc()
        if change.kind is ChangeKind.RESYNC:
            self._bus.resync()
        else:
            self._bus.deliver_remote(change)


async def _first_of(*events: asyncio.Event, within: float) -> bool:
    """Wait until one of `events` is set; False if none was within `within` seconds."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        done, _ = await asyncio.wait(waiters, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return bool(done)
