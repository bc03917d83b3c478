"""One refused message in a full batch: the others land in a few transactions, not one each."""

from __future__ import annotations

import math

from sqlalchemy import text
from sqlmodel import select

from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import make_engine
from alert_gateway.db.models import InboundMessage, RejectedMessage
from tests.conftest import create_schema
from tests.harness import device_client, gateway_settings, running_gateway

from . import refuse

BATCH = 63
POISON_AT = 40


async def test_a_refused_message_is_isolated_by_halving_and_the_rest_of_its_batch_lands(
    pg_url: str, topic_root: str, clock: FakeClock
) -> None:
    """63 alarms queued behind a lock, the 41st refused: every other one stored in about log2(63) commits."""
    await create_schema(pg_url)
    await refuse.execute(pg_url, refuse.refuse(pg_url, "inboundmessage", "NEW.message_id = 'm40'"))
    settings = gateway_settings(pg_url, topic_root)
    blocker = make_engine(pg_url)
    try:
        async with (
            running_gateway(settings, clock=clock, schema=False) as (gateway, changes),
            device_client(topic_root, clock=clock) as dev,
            blocker.connect() as lock,
        ):
            ingest = gateway.services.ingest
            registry = gateway.services.metrics.registry
            await lock.execute(text("LOCK TABLE inboundmessage IN ACCESS EXCLUSIVE MODE"))
            await dev.alarm("first", "m")  # its batch waits on the lock; the next ones queue up
            for i in range(BATCH):
                await dev.alarm(f"d{i}", f"m{i}")

            async def queued() -> bool:
                # the first batch may have taken a few of the others with it: count all of them
                return ingest.unacknowledged == BATCH + 1

            await changes.until(queued)
            before = registry.get_sample_value("alert_gateway_ingest_commit_seconds_count") or 0
            await lock.rollback()

            async def landed() -> set[str] | None:
                async with gateway.services.sessions() as s:
                    stored = set((await s.exec(select(InboundMessage.message_id))).all())
                    kept = (await s.exec(select(RejectedMessage.device_id))).all()
                return stored if len(stored) == BATCH and kept == [f"d{POISON_AT}"] else None

            stored = await changes.until(landed)
            await ingest.wait_idle()
            commits = (registry.get_sample_value("alert_gateway_ingest_commit_seconds_count") or 0) - before
        assert stored == {"m"} | {f"m{i}" for i in range(BATCH) if i != POISON_AT}
        # the first batch, one good half per halving level, and the refused alarm's rejection
        assert commits <= 1 + math.ceil(math.log2(BATCH)) + 1, commits
    finally:
        await blocker.dispose()
