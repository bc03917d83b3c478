"""Server-sent events for the live board: every committed AlertChange goes to every open page.

Changes committed by other replicas arrive too (PostgreSQL NOTIFY, see db/notify.py); when some
may have been missed (the listen connection was down), every page is told to re-read.

The browser's EventSource reconnects by itself; the page re-reads the whole board whenever the
stream (re)opens, so nothing missed while disconnected is lost (the database is the truth).
A stream ends when its session does (see LiveHub); the browser's reconnection then gets 401.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from ..appkeys import SERVICES
from ..bus import AlertChange, ChangeKind
from .auth import COOKIE
from .keys import HUB, METRICS
from .sessions import live_among, token_hash

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0  # below common proxy idle timeouts; also detects a dead client
QUEUE_SIZE = 2048  # changes a stream may lag behind; a larger burst goes as one "re-read"
RETRY_MS = 2000  # how soon the browser reconnects after a drop


# Which of these session token hashes are still live (signed in, not expired, operator active).
SessionCheck = Callable[[set[str]], Awaitable[set[str]]]


@dataclass(eq=False)
class _Stream:
    """One open event stream and the session (its token's hash) it was opened with."""

    session_hash: str
    queue: asyncio.Queue[AlertChange | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE)
    )

    def end(self) -> None:
        """Ask the stream to end now: whatever is still queued is dropped, not sent first."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class LiveHub:
    """Fan-out from the alert bus to one bounded queue per open event stream.

    A stream lives only as long as its session: before changes are handed out, one query checks
    every open stream's session at once (sign-out, expiry and a disabled operator, made on any
    replica), a check begun after those changes were noted, so a stream whose session ended ends
    before it sees another event. Idle streams are checked at most once per keepalive interval.
    """

    def __init__(self, live_sessions: SessionCheck) -> None:
        self.last_id = 0
        self._live_sessions = live_sessions
        self._streams: set[_Stream] = set()
        self._swept_at = 0.0
        self._unsubscribe: list[Callable[[], None]] = []
        self._pending: dict[tuple[int, ChangeKind], AlertChange] = {}  # the same change once
        self._fanning: asyncio.Task[None] | None = None

    @property
    def connections(self) -> int:
        """Open event streams."""
        return len(self._streams)

    async def publish(self, change: AlertChange) -> None:
        """Bus listener: note the change and return. One fan-out at a time checks every open
        stream's session, then hands out every change noted before that check began: one
        query per burst, not per change (a storm's thousands of changes a second, one query
        each, left this listener behind and its changes dropped)."""
        self.last_id += 1
        if not self._streams:
            return
        self._pending.setdefault((change.alert_id, change.kind), change)
        if self._fanning is None:
            self._fanning = asyncio.create_task(self._fan_out(), name="live-hub")

    async def fanned_out(self) -> None:
        """Until every change noted so far is handed to the streams (tests)."""
        while self._fanning is not None:
            await asyncio.shield(self._fanning)

    async def _fan_out(self) -> None:
        try:
            while self._pending:
                batch, self._pending = list(self._pending.values()), {}
                if not await self.sweep():
                    # sessions unchecked: say only "re-read" (which checks them)
                    batch = [AlertChange(0, ChangeKind.RESYNC)]
                for stream in list(self._streams):
                    self._hand(stream, batch)
        finally:
            self._fanning = None

    def _hand(self, stream: _Stream, batch: list[AlertChange]) -> None:
        room = QUEUE_SIZE - stream.queue.qsize()
        if len(batch) > room > 0:  # a storm's burst: "re-read" says as much as all of it
            batch = [AlertChange(0, ChangeKind.RESYNC)]
        for change in batch:
            try:
                stream.queue.put_nowait(change)
            except asyncio.QueueFull:
                # A stuck page: it will reconnect and re-read: better than unbounded memory.
                self._streams.discard(stream)
                stream.end()
                return

    async def sweep(self) -> bool:
        """End the streams whose session has ended; False if the sessions could not be checked."""
        checked = list(self._streams)
        self._swept_at = asyncio.get_running_loop().time()
        try:
            live = await self._live_sessions({stream.session_hash for stream in checked})
        except (SQLAlchemyError, OSError) as exc:
            log.warning("could not check the event streams' sessions",
                        extra={"error": type(exc).__name__})
            return False
        for stream in checked:
            if stream.session_hash not in live:
                self._streams.discard(stream)
                stream.end()
        return True

    async def sweep_if_due(self) -> None:
        """Sweep if nothing has for a keepalive interval (streams idle, no changes)."""
        if asyncio.get_running_loop().time() - self._swept_at >= KEEPALIVE_SECONDS:
            await self.sweep()

    def connect(self, *, session_hash: str) -> _Stream:
        """A queue for one new stream, opened with the session whose token hashes to `session_hash`."""
        stream = _Stream(session_hash)
        self._streams.add(stream)
        return stream

    def disconnect(self, stream: _Stream) -> None:
        """Forget a stream."""
        self._streams.discard(stream)

    async def close(self, _app: web.Application | None = None) -> None:
        """Ask every stream to end (shutdown must not wait for browsers to hang up)."""
        if self._fanning is not None:
            self._fanning.cancel()
        for stream in list(self._streams):
            stream.end()
        self._streams.clear()


def _frame(event: str, data: dict[str, object], event_id: int) -> bytes:
    return f"id: {event_id}\nevent: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def events(request: web.Request) -> web.StreamResponse:
    """GET /console/events: the event stream (signed-in operators only, via the middleware)."""
    hub = request.app[HUB]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # nginx must not buffer the stream
        }
    )
    await response.prepare(request)
    # The guard has checked this cookie: the stream lives as long as its session.
    stream = hub.connect(session_hash=token_hash(request.cookies.get(COOKIE, "")))
    gauge = request.app[METRICS].live_streams
    gauge.inc()
    try:
        await response.write(f"retry: {RETRY_MS}\n\n".encode())
        last_seen = request.headers.get("Last-Event-ID")
        # A reconnect that missed events, or a replica that restarted: tell the page to re-read.
        await response.write(_frame("refresh", {"missed": last_seen != str(hub.last_id)},
                                    hub.last_id))
        while True:
            try:
                change = await asyncio.wait_for(stream.queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                await hub.sweep_if_due()
                continue
            if change is None:
                break
            if change.kind is ChangeKind.RESYNC:
                await response.write(_frame("refresh", {"missed": True}, hub.last_id))
                continue
            await response.write(
                _frame("alert", {"alert_id": change.alert_id, "kind": change.kind}, hub.last_id)
            )
    except (ConnectionResetError, ConnectionError):
        pass  # the browser went away; EventSource will come back
    finally:
        hub.disconnect(stream)
        gauge.dec()
    return response


def add_routes(app: web.Application) -> None:
    """Register the stream and subscribe the hub to the alert bus for the app's lifetime."""
    services = app[SERVICES]

    async def live_sessions(hashes: set[str]) -> set[str]:
        async with services.sessions() as session:
            return await live_among(session, token_hashes=hashes, now=services.clock.now())

    hub = LiveHub(live_sessions)
    app[HUB] = hub
    app.router.add_get("/console/events", events)

    async def subscribe(app: web.Application) -> None:
        hub._unsubscribe.append(app[SERVICES].bus.subscribe(hub.publish))

    async def unsubscribe(app: web.Application) -> None:
        for stop in hub._unsubscribe:
            stop()
        hub._unsubscribe.clear()

    app.on_startup.append(subscribe)
    app.on_shutdown.append(hub.close)
    app.on_cleanup.append(unsubscribe)
