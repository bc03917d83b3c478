"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from alembic import command

from alert_gateway.db.migrate import alembic_config, upgrade


async def test_upgrade_twice_then_models_and_migrations_agree(database_url: str) -> None:
    """`db upgrade` is idempotent and `alembic check` finds nothing the migrations miss."""
    await upgrade(database_url)
    await upgrade(database_url)
    await asyncio.to_thread(command.check, alembic_config(database_url))  # raises on any drift
