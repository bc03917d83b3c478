"""Alembic environment: async engine, SQLModel metadata, batch mode for SQLite."""

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import alert_gateway.db.models  # noqa: F401  (registers every table)

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    dialect = connection.dialect.name

    def on_this_database(obj: Any, _name: str | None, _kind: str, _reflected: bool,
                         _compare_to: Any) -> bool:
        # an index built on one database only (`info["only_on"]`, with its `ddl_if`)
        return getattr(obj, "info", {}).get("only_on", dialect) == dialect

    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=dialect == "sqlite",
        compare_type=True,
        include_object=on_this_database,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url
    engine = create_async_engine(url, hide_parameters=True)  # no row data in an error line
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()  # also when a revision is unknown: no connection left open


if context.is_offline_mode():
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
