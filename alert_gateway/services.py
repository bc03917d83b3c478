"""The objects one gateway process shares, built once from Settings and passed explicitly."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

from sqlalchemy.ext.asyncio import AsyncEngine

from .bus import AlertBus, AlertChange, ChangeKind
from .clock import Clock, SystemClock
from .db.engine import SessionFactory, is_sqlite, make_engine, make_sessions
from .db.groupcommit import GroupCommit
from .db.held import HeldSessions
from .db.notify import ReplicaLink
from .ingest.batch import BatchResult
from .ingest.heartbeats import LastSeenBuffer
from .ingest.pipeline import IngestPipeline
from .metrics import Metrics
from .settings import Settings
from .unit_of_work import publish
from .wakers import Wakers


def gateway_version() -> str:
    """The installed package version."""
    try:
        return version("alert-gateway")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass
class Services:
    """Everything a handler or task may need; tests build one with a FakeClock and fresh registry."""

    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessions: SessionFactory
    metrics: Metrics
    ingest: IngestPipeline
    bus: AlertBus = field(default_factory=AlertBus)
    writes: GroupCommit = field(init=False)  # callbacks and send results share transactions
    wakers: Wakers = field(default_factory=Wakers)  # set where the workers are built
    replicas: ReplicaLink | None = None  # PostgreSQL: LISTEN/NOTIFY with the other replicas
    held: list[HeldSessions] = field(default_factory=list)  # writers' own connections

    def __post_init__(self) -> None:
        self.writes = GroupCommit(self.writer_sessions())

    def writer_sessions(self) -> SessionFactory:
        """Sessions for one more writer that runs one transaction after another."""
        return writer_sessions(self.settings, self.engine, self.sessions, self.held)

    async def close(self) -> None:
        """Hand back the writers' connections and release the database pool."""
        for held in self.held:
            await held.aclose()
        await self.engine.dispose()


def writer_sessions(settings: Settings, engine: AsyncEngine, shared: SessionFactory,
                    held: list[HeldSessions]) -> SessionFactory:
    """On PostgreSQL, sessions on a connection of the writer's own, kept between its
    transactions (db/held.py), added to `held`; SQLite shares its one connection."""
    if is_sqlite(settings.database_url):
        return shared
    own = HeldSessions(engine)
    held.append(own)
    return own


def build_services(
    settings: Settings, *, clock: Clock | None = None, metrics: Metrics | None = None
) -> Services:
    """Wire the process; no connection is opened until something awaits it."""
    clock = clock or SystemClock()
    metrics = metrics or Metrics(version=gateway_version())
    engine = make_engine(settings.database_url)
    sessions = make_sessions(engine)
    held: list[HeldSessions] = []
    ingest = IngestPipeline(settings, writer_sessions(settings, engine, sessions, held), clock,
                            metrics, LastSeenBuffer())
    services = Services(settings, clock, engine, sessions, metrics, ingest,
                        bus=AlertBus(metrics.bus_dropped), held=held)
    if not is_sqlite(settings.database_url):  # SQLite is one instance: in-process notices only
        services.replicas = ReplicaLink(engine, services.bus, metrics)
        services.bus.subscribe(services.replicas.send, remote=False)

    async def announce(result: BatchResult) -> None:
        # An ingest batch is committed by the pipeline's own batching (one transaction for many
        # MQTT messages, acknowledged to the broker only after it), not a unit of work: it hands
        # the committed result here, and this publishes what it changed.
        cancelled = {r.alert_id for r in result.cancelled}
        # a cancel queued notices for the dispatcher; the rest intake already handed over
        await publish(services.bus, [
            AlertChange(alert_id, ChangeKind.CANCEL if alert_id in cancelled else ChangeKind.STORED)
            for alert_id in result.changed_alert_ids])

    ingest.batch_listeners.append(announce)
    return services
