"""Server-sent events for the live board: every committed AlertChange goes to every open page.

Changes committed by other replicas arrive too (PostgreSQL NOTIFY, see db/notify.py); when some
may have been missed (the listen connection was down), every page is told to re-read.

The browser's EventSource reconnects by itself; the page re-reads the whole board whenever the
stream (re)opens, so nothing missed while disconnected is lost (the database is the truth).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable

from aiohttp import web

from ..appkeys import SERVICES
from ..bus import AlertChange, ChangeKind
from .keys import HUB, METRICS

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0  # below common proxy idle timeouts; also detects a dead client
QUEUE_SIZE = 256
RETRY_MS = 2000  # how soon the browser reconnects after a drop


class LiveHub:
    """Fan-out from the alert bus to one bounded queue per open event stream."""

    def __init__(self) -> None:
        self.last_id = 0
        self._queues: set[asyncio.Queue[AlertChange | None]] = set()
        self._unsubscribe: list[Callable[[], None]] = []

    @property
    def connections(self) -> int:
        """Open event streams."""
        return len(self._queues)

    async def publish(self, change: AlertChange) -> None:
        """Bus listener: queue the change for every stream; a stuck stream is closed, not waited on."""
        self.last_id += 1
        for queue in list(self._queues):
            try:
                queue.put_nowait(change)
            except asyncio.QueueFull:
                # The page will reconnect and re-read the board: better than unbounded memory.
                self._queues.discard(queue)
                with contextlib.suppress(asyncio.QueueFull):
                    queue.get_nowait()
                    queue.put_nowait(None)

    def connect(self) -> asyncio.Queue[AlertChange | None]:
        """A queue for one new stream."""
        queue: asyncio.Queue[AlertChange | None] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        return queue

    def disconnect(self, queue: asyncio.Queue[AlertChange | None]) -> None:
        """Forget a stream's queue."""
        self._queues.discard(queue)

    async def close(self, _app: web.Application | None = None) -> None:
        """Ask every stream to end (shutdown must not wait for browsers to hang up)."""
        for queue in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)
        self._queues.clear()


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
    queue = hub.connect()
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
                change = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
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
        hub.disconnect(queue)
        gauge.dec()
    return response


def add_routes(app: web.Application) -> None:
    """Register the stream and subscribe the hub to the alert bus for the app's lifetime."""
    hub = LiveHub()
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
