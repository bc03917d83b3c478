"""Seeding and waiting helpers for supervision stories against real Mosquitto."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.models import Alert, AlertEvent, Device, Resident
from alert_gateway.gateway import Gateway
from alert_gateway.ingest.parse import Incoming
from devices.contract import Channel
from tests.conftest import create_schema
from tests.harness import Changes, DeviceSide, device_client, gateway_settings, running_gateway

QUIET = {"supervision_check_seconds": 86_400}  # checks run when the test says (or on a last will)


async def seed(url: str, clock: FakeClock, count: int, *, interval: int = 60,
               battery: int | None = None, **resident: Any) -> None:
    """`count` residents r-i, each with one pendant p-i last seen now."""
    await create_schema(url)
    engine = make_engine(url)
    async with make_sessions(engine)() as s:
        for i in range(count):
            s.add(Resident(id=f"r-{i}", name=f"利用者 {i}", created_at=clock.now(), **resident))
        await s.flush()
        for i in range(count):
            s.add(Device(id=f"p-{i}", resident_id=f"r-{i}", heartbeat_interval=interval,
                         last_seen_at=clock.now(), battery=battery))
        await s.commit()
    await engine.dispose()


@asynccontextmanager
async def supervised(url: str, topic_root: str, clock: FakeClock,
                     count: int) -> AsyncIterator[tuple[Gateway, Changes, DeviceSide]]:
    """`count` seeded homes, a running gateway whose checks run when the test says, a device side."""
    await seed(url, clock, count)
    settings = gateway_settings(url, topic_root, **QUIET)
    async with running_gateway(settings, clock=clock, schema=False) as (gw, changes), \
            device_client(topic_root, clock=clock) as dev:
        yield gw, changes, dev


class Heard:
    """A device listener that lets a test await 'the gateway noted these messages'."""

    def __init__(self, gateway: Gateway) -> None:
        self.items: list[Incoming] = []
        gateway.services.ingest.device_listeners.append(self.items.append)

    async def wait(self, changes: Changes, count: int) -> None:
        """Until `count` device messages in all have been noted."""

        async def enough() -> bool:
            return len(self.items) >= count

        await changes.until(enough)

    async def wait_for(self, changes: Changes, device_id: str) -> None:
        """Until a message from `device_id` has been noted."""

        async def heard() -> bool:
            return any(item.device_id == device_id for item in self.items)

        await changes.until(heard)


async def heartbeat(dev: DeviceSide, device_id: str, clock: FakeClock, **extra: Any) -> None:
    """Publish one heartbeat stamped with the fake clock."""
    await dev.publish(device_id, Channel.HEARTBEAT, {"ts": clock.now().isoformat(), **extra})


async def alerts(gateway: Gateway, alarm_type: str | None = None) -> list[Alert]:
    """Stored alerts, oldest first, optionally of one type."""
    async with gateway.services.sessions() as s:
        query = select(Alert).order_by(col(Alert.id))
        if alarm_type is not None:
            query = query.where(Alert.type == alarm_type)
        return list((await s.exec(query)).all())


async def timeline(gateway: Gateway, alert_id: int | None) -> list[str]:
    """Event kinds of one alert, in order."""
    async with gateway.services.sessions() as s:
        rows = await s.exec(select(AlertEvent).where(AlertEvent.alert_id == alert_id)
                            .order_by(col(AlertEvent.id)))
        return [e.kind for e in rows.all()]


async def device(gateway: Gateway, device_id: str) -> Device:
    """One device row, fresh."""
    async with gateway.services.sessions() as s:
        row = await s.get(Device, device_id)
        assert row is not None
        return row


async def resident_activity(gateway: Gateway, resident_id: str) -> datetime | None:
    """A resident's stored last activity."""
    async with gateway.services.sessions() as s:
        row = await s.get(Resident, resident_id)
        assert row is not None
        return row.last_activity_at
