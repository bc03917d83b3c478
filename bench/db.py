"""A fresh database per run (SQLite file or PostgreSQL database), its schema and bulk seeding."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import func, insert, select
from sqlmodel import SQLModel

import alert_gateway.db.models  # noqa: F401  (registers every table)
from alert_gateway.db.engine import make_engine
from alert_gateway.db.residents import Contact, Device, Resident

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
CHUNK = 5000


@asynccontextmanager
async def fresh_database(kind: str) -> AsyncIterator[str]:
    """Yield the SQLAlchemy URL of an empty database with the schema; drop it afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="agbench-db-") as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'gateway.db'}"
            await create_schema(url)
            yield url
        return
    name = f"agbench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    try:
        await create_schema(url)
        yield url
    finally:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def create_schema(url: str) -> None:
    """Create every table from the models."""
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)
    await engine.dispose()


def contact_phone(i: int) -> str:
    """A distinct Japanese mobile number per resident (E.164)."""
    return f"+8190{i:08d}"


async def seed(url: str, device_ids: Sequence[str], *, with_contacts: bool = True) -> None:
    """One resident per device, each with one mobile contact (sms,voice) unless told otherwise."""
    now = datetime.now(UTC)
    engine = make_engine(url)
    try:
        for start in range(0, len(device_ids), CHUNK):
            chunk = list(enumerate(device_ids))[start : start + CHUNK]
            residents = [_resident(f"r-{d}", now) for _, d in chunk]
            devices = [_device(d, f"r-{d}", now) for _, d in chunk]
            async with engine.begin() as conn:
                await conn.execute(insert(Resident), residents)
                if with_contacts:
                    contacts = [_contact(f"r-{d}", contact_phone(i), now) for i, d in chunk]
                    await conn.execute(insert(Contact), contacts)
                await conn.execute(insert(Device), devices)
    finally:
        await engine.dispose()


async def count(url: str, model: Any, *where: Any) -> int:
    """Rows of a table, optionally filtered."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            query = select(func.count()).select_from(model)
            for clause in where:
                query = query.where(clause)
            return int((await conn.execute(query)).scalar_one())
    finally:
        await engine.dispose()


def _resident(rid: str, now: datetime) -> dict[str, Any]:
    return {"id": rid, "name": f"Bench {rid}", "phone_type": "unknown", "language": "ja",
            "oxygen_in_home": False, "away": False, "active": True, "created_at": now,
            "updated_at": now}


def _contact(rid: str, phone: str, now: datetime) -> dict[str, Any]:
    return {"resident_id": rid, "name": "Family", "relation": "family", "phone": phone,
            "phone_type": "mobile", "priority": 1, "language": "ja", "channels": "sms,voice",
            "active": True, "sms_opt_out": False, "created_at": now, "updated_at": now}


def _device(did: str, rid: str, now: datetime) -> dict[str, Any]:
    return {"id": did, "kind": "pendant", "resident_id": rid, "heartbeat_interval": 300,
            "online": True, "active": True, "created_at": now, "updated_at": now}


async def attempt_facts(url: str, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Per outbox row: what made it (purpose, step, round, dial) and how it went."""
    from alert_gateway.db.models import NotificationAttempt

    if not ids:
        return {}
    table = NotificationAttempt.__table__  # type: ignore[attr-defined]
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(
                table.c.id, table.c.purpose, table.c.step_index, table.c.round, table.c.dial_no,
                table.c.status, table.c.retries, table.c.error).where(table.c.id.in_(ids)))).all()
    finally:
        await engine.dispose()
    return {r.id: {"purpose": r.purpose, "step": r.step_index, "round": r.round,
                   "dial_no": r.dial_no, "attempt_status": r.status, "retries": r.retries,
                   "error": r.error} for r in rows}
