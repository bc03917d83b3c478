"""One made-up alarm stored and planned by the real path, then rolled back (the warm-up).

Every statement of an alarm's path is compiled by SQLAlchemy on its first use, and prepared by
asyncpg on each connection's first use: the first alarm after a start paid for them all. Here a
resident of its own (with a pendant and a mobile contact) raises an SOS inside one transaction
that is rolled back: no row is kept, nothing reaches the bus, the dispatcher or a device, and the
planned SMS and call are never handed over. What stays is SQLAlchemy's compiled cache, the
connection's prepared statements, and on PostgreSQL the few sequence numbers the rolled-back
inserts drew (as any rolled-back insert does).
"""

from __future__ import annotations

import json
import uuid

from devices.contract import Channel

from ..clock import Clock
from ..db.engine import SessionFactory
from ..db.residents import Contact, Device, Resident
from .parse import parse_message
from .pipeline import IngestPipeline

REHEARSAL_NUMBER = "+819000000000"  # a mobile number of the right shape, never dialled


async def rehearse_alarm(pipeline: IngestPipeline, sessions: SessionFactory, clock: Clock,
                         *, max_bytes: int) -> None:
    """Store and plan one SOS as a real one would be, in a transaction rolled back at the end."""
    now = clock.now()
    tag = f"warm-up-{uuid.uuid4().hex[:12]}"  # replicas starting together never share a row lock
    device_id = f"{tag}-pendant"
    topics = pipeline.connection.topics
    body = json.dumps({"id": tag, "type": "sos", "ts": now.isoformat()}).encode()
    item = parse_message(topics.for_device(device_id, Channel.ALARM), body, topics=topics,
                         max_bytes=max_bytes, received_at=now)
    async with sessions() as session:
        session.add(Resident(id=tag, name=tag))
        await session.flush()
        session.add(Device(id=device_id, resident_id=tag))
        session.add(Contact(resident_id=tag, name=tag, relation="family",
                            phone=REHEARSAL_NUMBER, phone_type="mobile"))
        await session.flush()
        await pipeline.committer.store(session, [item], now=now)
        await session.rollback()
