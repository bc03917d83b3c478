"""Shared fixtures: a fresh database on SQLite and on PostgreSQL, unique MQTT topic roots, a fake clock.

Real services only: Mosquitto at 127.0.0.1:1883 and PostgreSQL at 127.0.0.1:5432 (see .ci/run).
Each test gets its own database name and topic root so parallel and repeated runs never collide.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
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


async def create_pg_database(prefix: str = "agtest_") -> str:
    """Create an empty PostgreSQL database and return its SQLAlchemy URL."""
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


async def drop_pg_database(url: str) -> None:
    """Drop a database made by create_pg_database, even if connections linger."""
    await _drop_database(url.rsplit("/", 1)[1])


async def _drop_database(name: str) -> None:
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


async def _create_all(url: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)
    await engine.dispose()


class _SchemaTemplates:
    """This test process's schema, made once per backend and copied into each fresh database:
    a PostgreSQL template database and a SQLite file. On PostgreSQL one CREATE DATABASE from the
    template replaces create_all's 0.2 s of statements (the copy's own time is the disk's: 0.05
    to 0.3 s here); on SQLite a file copy replaces create_all's 0.05 s. With several hundred
    databases a run, that is about half a minute of the suite's time."""

    def __init__(self) -> None:
        self.pg_names: list[str] = []  # one, unless two first copies ran at once
        self.sqlite_dir: Path | None = None

    async def copy_to_pg(self, url: str) -> bool:
        """Replace the database with a copy; False if it has tables already (left as it is)."""
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            if await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"):
                return False
        finally:
            await conn.close()
        if not self.pg_names:
            template_url = await create_pg_database(prefix="agtest_schema_")
            await _create_all(template_url)  # disposed: a template is copied with no connection
            self.pg_names.append(template_url.rsplit("/", 1)[1])
        name = url.rsplit("/", 1)[1]
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.pg_names[0]}"')
        finally:
            await conn.close()
        return True

    async def copy_to_sqlite(self, path: Path) -> bool:
        """Copy the schema's file to `path`; False if a database is there already (left as it is)."""
        if self.sqlite_dir is None:
            self.sqlite_dir = Path(tempfile.mkdtemp(prefix="agtest-schema-"))
            await _create_all(f"sqlite+aiosqlite:///{self.sqlite_dir / 'schema.db'}")
        return _copy_into_fresh(self.sqlite_dir / "schema.db", path)  # disposed: no -wal left

    def remove(self) -> None:
        for name in self.pg_names:
            asyncio.run(_drop_database(name))
        if self.sqlite_dir is not None:
            shutil.rmtree(self.sqlite_dir, ignore_errors=True)


def _copy_into_fresh(template: Path, path: Path) -> bool:
    if path.exists() and path.stat().st_size:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)
    return True


_templates = _SchemaTemplates()


@pytest.fixture(scope="session", autouse=True)
def schema_templates() -> Iterator[None]:
    """Drops this process's schema templates when its tests are done."""
    yield
    _templates.remove()


async def create_schema(url: str) -> None:
    """Create every table (the migration itself is tested in test_migrations). An empty database
    becomes a copy of this process's schema template; one that has tables (migrated, say) gets
    whatever create_all finds missing."""
    if url.startswith("sqlite"):
        copied = await _templates.copy_to_sqlite(Path(url.split(":///", 1)[1]))
    else:
        copied = await _templates.copy_to_pg(url)
    if not copied:
        await _create_all(url)


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
