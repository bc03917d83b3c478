"""The running gateway: its background tasks, with an orderly shutdown (commands/serve.py adds
the HTTP server around it, and closes the database after both)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .awaiting import awaiting
from .bridges.zigbee2mqtt_bridge import zigbee2mqtt_bridge
from .ingest.heartbeats import chunks, store_sightings
from .privacy.purge_task import RetentionPurge
from .services import Services
from .supervision.service import Supervisor
from .warmup import warm_up
from .wiring import build_workers

if TYPE_CHECKING:  # the SIA bridge is imported only when a site runs it
    from .bridges.sia_bridge import SiaBridge

log = logging.getLogger(__name__)

TaskFactory = Callable[[asyncio.Event], Awaitable[None]]
# The whole stop's bound, however its parts fare: with the HTTP server's 5 s after it
# (commands/serve.py), within the 30 s Kubernetes and docker-compose.yml give before SIGKILL.
STOP_SECONDS = 20.0
BUS_DRAIN_SECONDS = 5.0  # device feedback and replica notices queued at shutdown still go out
FINAL_SECONDS = 2.0  # of the bound, kept from the tasks for the last-seen flush and last notices


class Gateway:
    """Owns the tasks of one process: MQTT ingest, batch writer, heartbeat flusher and plug-ins."""

    def __init__(self, services: Services, *, stop_seconds: float = STOP_SECONDS) -> None:
        self.services = services
        self.stop_seconds = stop_seconds
        self.stop_event = asyncio.Event()
        self.ready = False
        self._tasks: list[asyncio.Task[None]] = []
        # The replica link stops after everything else: the last changes still reach the others.
        self._link_stop = asyncio.Event()
        self._link: asyncio.Task[None] | None = None
        self.sia: SiaBridge | None = None  # its state is on /readyz when it runs
        self.supervisor = Supervisor(services.settings, services.clock, services.sessions,
                                     services.bus, services.metrics, services.ingest)
        self.task_factories: list[tuple[str, TaskFactory]] = [
            ("mqtt", services.ingest.connection.run),
            ("ingest-writer", services.ingest.run_writer),
            ("heartbeat-flush", self._flush_loop),
            ("supervision", self.supervisor.run),
            ("retention", RetentionPurge(  # personal data past its period
                services.settings, services.clock, services.sessions, services.metrics).run),
        ]
        self.workers = build_workers(services)  # policies validated here: ConfigError
        self.task_factories += self.workers.tasks()
        if services.settings.zigbee2mqtt_map is not None:  # the map is validated here: ConfigError
            self.task_factories.append(("zigbee2mqtt", zigbee2mqtt_bridge(
                services.settings, services.clock, services.metrics.registry).run))
        if services.settings.sia_port is not None:  # alarm panels (docs/devices/sia-dc09.md)
            from .bridges.sia_bridge import SiaBridge

            self.sia = SiaBridge(services.settings, sessions=services.sessions, clock=services.clock,
                                 registry=services.metrics.registry)  # accounts file: ConfigError
            self.task_factories.append(("sia-receiver", self.sia.run))

    def sia_status(self) -> str | None:
        """The SIA receiver's state for /readyz, when this gateway runs one."""
        return None if self.sia is None else self.sia.status()

    async def start(self) -> None:
        """Warm up, then start every task (the MQTT subscription among them); readiness turns
        true once they run.

        The warm-up (warmup.py) readies what the first alarm would otherwise pay for, before
        anything subscribes or sends: nothing of ours is under way while it runs.
        """
        await warm_up(self.services, self.workers)
        for name, factory in self.task_factories:
            self._tasks.append(asyncio.create_task(self._supervise(name, factory), name=name))
        if self.services.replicas is not None:
            self._link = asyncio.create_task(
                self._supervise("replica-link", self.services.replicas.run, self._link_stop),
                name="replica-link")
        self.ready = True

    async def _supervise(self, name: str, factory: TaskFactory,
                         stop: asyncio.Event | None = None) -> None:
        """A crashed task is logged and restarted: the gateway must not go quietly deaf."""
        stop = stop or self.stop_event
        while not stop.is_set():
            try:
                await factory(stop)
                return
            except Exception:
                log.exception("task crashed, restarting", extra={"task": name})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)

    async def flush_heartbeats(self) -> set[str]:
        """Write batched last-seen times now; returns the device ids updated."""
        buffer = self.services.ingest.heartbeats
        taken = buffer.take()
        if not taken:
            return set()
        known: set[str] = set()
        stored = False
        try:
            # one short transaction per chunk: on SQLite's single connection alarms go in between
            dropped = self.services.metrics.heartbeat_sightings_dropped
            for chunk in chunks(taken):
                known |= await store_sightings(self.services.sessions, chunk, dropped=dropped)
            stored = True
        finally:
            buffer.settle(taken, stored=stored)
        return known

    async def _flush_loop(self, stop: asyncio.Event) -> None:
        interval = self.services.settings.heartbeat_flush_seconds
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            try:
                await self.flush_heartbeats()
            except Exception:
                log.exception("heartbeat flush failed; will retry")

    async def stop(self) -> None:
        """Readiness false first, stop taking messages, drain, flush; within `stop_seconds` in all.

        The database stays open: the HTTP server's handlers still use it (a status callback about
        a send that just finished), so whoever built the services closes them once that server
        has stopped too (commands/serve.py)."""
        self.ready = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stop_seconds

        def left(bound: float, keep: float = 0.0) -> float:
            return max(0.0, min(bound, deadline - keep - loop.time()))

        await self.services.bus.drain(left(BUS_DRAIN_SECONDS))  # device feedback while MQTT is up
        self.stop_event.set()
        within = left(self.stop_seconds, keep=FINAL_SECONDS)
        _done, pending = (
            await asyncio.wait(self._tasks, timeout=within) if self._tasks else (set(), set())
        )
        for task in pending:
            # which one held the stop to its bound: the place to look, not a guess
            log.warning("task did not stop in time, cancelled",
                        extra={"task": task.get_name(), "seconds": round(within, 1),
                               "awaiting": awaiting(task)})
            task.cancel()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(left(self.stop_seconds)):
                await self.flush_heartbeats()
        await self.services.bus.drain(left(BUS_DRAIN_SECONDS))  # what the tasks published stopping
        if self._link is not None:
            self._link_stop.set()
            await asyncio.wait([self._link], timeout=left(BUS_DRAIN_SECONDS))
            self._link.cancel()

    async def abort(self) -> None:
        """Stop every task at once, as a crash would: nothing drained, flushed or told (crash tests)."""
        self.ready = False
        tasks = [*self._tasks, *([self._link] if self._link else [])]
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
