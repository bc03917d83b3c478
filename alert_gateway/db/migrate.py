"""Alembic migrations, run programmatically (`alert-gateway db upgrade`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An alembic Config pointing at our migrations and the given database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade_sync(database_url: str, revision: str = "head") -> None:
    """Bring the schema to `revision` (blocking; alembic's async env runs its own loop)."""
    command.upgrade(alembic_config(database_url), revision)


async def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema to `revision` from inside a running loop (STACK.md §3: use a thread)."""
    await asyncio.to_thread(upgrade_sync, database_url, revision)
