"""Another replica stored a message of our batch first: the rest of the batch still lands, nothing twice."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.models import Alert, Device, InboundMessage, Resident
from alert_gateway.ingest.heartbeats import LastSeenBuffer
from alert_gateway.ingest.parse import parse_message
from alert_gateway.ingest.pipeline import IngestPipeline, _Pending
from alert_gateway.metrics import Metrics
from alert_gateway.settings import Settings
from devices.contract import Topics
from tests.conftest import create_schema

TOPICS = Topics()
CONTESTED = "m2"


class _Conflicts:
    """Commits that fail as a unique violation while the contested message is in the transaction."""

    def __init__(self, url: str, *, times: int, replica_stores: bool) -> None:
        self.times = times  # how many commits fail
        self.replica_stores = replica_stores  # the other replica's row really is there afterwards
        self.commits = 0
        self.replica = make_engine(url)  # another process: its own engine and connection

    async def commit(self, session: AsyncSession, now: datetime) -> bool:
        """False (after a rollback) when this commit must fail."""
        self.commits += 1
        query = select(InboundMessage).where(col(InboundMessage.message_id) == CONTESTED)
        ours = [m for m in (await session.exec(query)).all() if m.device_id == "d2"]
        if not ours or self.times == 0:
            return True
        self.times -= 1
        await session.rollback()
        if self.replica_stores:
            async with make_sessions(self.replica)() as other:
                other.add(InboundMessage(device_id="d2", channel="alarm", message_id=CONTESTED,
                                         received_at=now))
                await other.commit()
        return False


def _factory(engine: AsyncEngine, conflicts: _Conflicts, clock: FakeClock) -> Any:
    class Session(AsyncSession):
        async def commit(self) -> None:
            if not await conflicts.commit(self, clock.now()):
                raise IntegrityError("INSERT INTO inboundmessage", {}, Exception("unique violation"))
            await super().commit()

    return async_sessionmaker(engine, class_=Session, expire_on_commit=False)


async def _run(url: str, clock: FakeClock, conflicts: _Conflicts) -> tuple[list[int], list[Alert]]:
    await create_schema(url)
    engine = make_engine(url)
    try:
        return await _store(url, engine, clock, conflicts)
    finally:
        await engine.dispose()
        await conflicts.replica.dispose()


async def _store(
    url: str, engine: AsyncEngine, clock: FakeClock, conflicts: _Conflicts
) -> tuple[list[int], list[Alert]]:
    plain = make_sessions(engine)
    async with plain() as s:
        s.add_all([Resident(id=f"r{i}", name="r") for i in range(6)])
        await s.flush()
        s.add_all([Device(id=f"d{i}", resident_id=f"r{i}") for i in range(6)])
        await s.commit()
    pipeline = IngestPipeline(Settings(database_url=url), _factory(engine, conflicts, clock), clock,
                              Metrics(), LastSeenBuffer())
    acked: list[int] = []
    client = SimpleNamespace(_client=SimpleNamespace(ack=lambda mid, qos: acked.append(mid)))
    batch = []
    for i in range(6):
        body = f'{{"id": "m{i}", "type": "sos", "ts": "{clock.now().isoformat()}"}}'
        item = parse_message(f"{TOPICS.root}/d{i}/alarm", body.encode(), topics=TOPICS, max_bytes=4096,
                             received_at=clock.now())
        batch.append(_Pending(client, SimpleNamespace(qos=1, mid=i), item))  # type: ignore[arg-type]
    await pipeline._commit_and_tell(batch)
    await pipeline.drain()
    async with plain() as s:
        alerts = list((await s.exec(select(Alert).order_by(col(Alert.id)))).all())
    return acked, alerts


async def test_a_batch_looks_again_when_another_replica_stored_one_of_its_messages(
    database_url: str, clock: FakeClock
) -> None:
    """The second look finds the replica's row (a duplicate): one more transaction, not one per message."""
    conflicts = _Conflicts(database_url, times=1, replica_stores=True)
    acked, alerts = await _run(database_url, clock, conflicts)
    assert sorted(acked) == list(range(6))
    assert sorted(a.source_message_id or "" for a in alerts) == ["m0", "m1", "m3", "m4", "m5"]
    assert conflicts.commits == 2


async def test_a_message_that_keeps_failing_is_set_apart_and_the_rest_land(
    database_url: str, clock: FakeClock
) -> None:
    """Halving isolates the one message; the other five are stored and every message is acknowledged."""
    conflicts = _Conflicts(database_url, times=100, replica_stores=False)
    acked, alerts = await _run(database_url, clock, conflicts)
    assert sorted(acked) == list(range(6))
    assert sorted(a.source_message_id or "" for a in alerts) == ["m0", "m1", "m3", "m4", "m5"]
    assert conflicts.commits == 8  # whole batch twice, then halves until m2 is alone
