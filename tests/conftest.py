"""Shared fixtures: a fresh database on SQLite and on PostgreSQL, unique MQTT topic roots, a fake clock.

Real services only: Mosquitto at 127.0.0.1:1883 and PostgreSQL at 127.0.0.1:5432 (see .ci/run).
Each test gets its own database name and topic root so parallel and repeated runs never collide.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from sqlmodel import SQLModel

import alert_gateway.db.models  # noqa: F401  (registers the tables)
from alert_gateway.clock import FakeClock
from alert_gateway.db import sealed
from alert_gateway.db.engine import SessionFactory, make_engine, make_sessions

PG_ADMIN_DSN = os.environ.get("TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
MQTT_URL = os.environ.get("TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
# The suite's data key: in-process code gets it below, gateway subprocesses from the environment.
TEST_DATA_KEY = "dGVzdC1kYXRhLWtleS1mb3ItYWxlcnQtZ2F0ZXdheSE="
os.environ.setdefault("ALERT_GATEWAY_DATA_KEY", TEST_DATA_KEY)


@pytest.fixture(autouse=True)
def data_key() -> str:
    """Every test starts with the suite's data key installed (a test may install others)."""
    sealed.use_keys([os.environ["ALERT_GATEWAY_DATA_KEY"]])
    return os.environ["ALERT_GATEWAY_DATA_KEY"]


async def create_pg_database() -> str:
    """Create an empty PostgreSQL database and return its SQLAlchemy URL."""
    name = f"agtest_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


async def drop_pg_database(url: str) -> None:
    """Drop a database made by create_pg_database, even if connections linger."""
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database URL, once for SQLite and once for PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
        return
    url = await create_pg_database()
    try:
        yield url
    finally:
        await drop_pg_database(url)


@pytest_asyncio.fixture
async def sqlite_url(tmp_path: Path) -> str:
    """An empty SQLite database URL, for tests that need only one backend."""
    return f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"


@pytest_asyncio.fixture
async def pg_url() -> AsyncIterator[str]:
    """An empty PostgreSQL database URL."""
    url = await create_pg_database()
    try:
        yield url
    finally:
        await drop_pg_database(url)


async def create_schema(url: str) -> None:
    """Create every table (the migration itself is tested in test_migrations)."""
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)
    await engine.dispose()


@pytest_asyncio.fixture
async def sessions(database_url: str) -> AsyncIterator[SessionFactory]:
    """A session factory on a fresh schema, on both backends."""
    await create_schema(database_url)
    engine = make_engine(database_url)
    try:
        yield make_sessions(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def topic_root() -> str:
    """A topic root no other test or run uses."""
    return f"agtest-{uuid.uuid4().hex[:10]}/eldercare/v1/devices"


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when the test says so (starts at 03:00 in Japan)."""
    return FakeClock()
