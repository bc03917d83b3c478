"""Alembic migrations, run programmatically (`alert-gateway db upgrade|downgrade|current`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

from ..errors import DatabaseNotMigrated, InvalidInput, Unreachable
from .engine import make_engine

T = TypeVar("T")
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
UPGRADE_HINT = "run `alert-gateway db upgrade` first"


def alembic_config(database_url: str) -> Config:
    """An alembic Config pointing at our migrations and the given database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest revision this version of the gateway knows."""
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None, "the migrations have a single head"
    return head


def upgrade_sync(database_url: str, revision: str = "head") -> None:
    """Bring the schema to `revision` (blocking; alembic's async env runs its own loop)."""
    if (path := sqlite_path(database_url)) is not None:
        path.parent.mkdir(parents=True, exist_ok=True)  # a fresh checkout has no data/ yet
    _alembic(command.upgrade, database_url, revision)


def downgrade_sync(database_url: str, revision: str) -> None:
    """Take the schema back to `revision` (`-1`, an id, or `base`)."""
    if not schema_state(database_url).revisions:
        raise DatabaseNotMigrated(f"{display_url(database_url)} has no migrated schema to downgrade")
    _alembic(command.downgrade, database_url, revision)


async def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema to `revision` from inside a running loop (STACK.md §3: use a thread)."""
    await asyncio.to_thread(upgrade_sync, database_url, revision)


@dataclass(frozen=True, slots=True)
class SchemaState:
    """What a database holds: its alembic revisions, and whether every table exists."""

    revisions: tuple[str, ...]
    tables_complete: bool

    def describe(self, head: str) -> str:
        """One line for `db current`."""
        if not self.revisions:
            made = " (tables made without migrations)" if self.tables_complete else ""
            return f"none{made}; this version's head is {head}"
        at = ", ".join(self.revisions)
        return f"{at} (head)" if self.revisions == (head,) else f"{at}; this version's head is {head}"


def schema_state(database_url: str) -> SchemaState:
    """Read the schema's state without creating anything (a missing SQLite file stays missing)."""
    path = sqlite_path(database_url)
    if path is not None and not path.is_file():
        return SchemaState(revisions=(), tables_complete=False)
    return _reach(database_url, lambda: asyncio.run(_read_state(database_url)))


def require_migrated(database_url: str) -> None:
    """Raise DatabaseNotMigrated unless the schema is at this version's head."""
    state, head, where = schema_state(database_url), head_revision(), display_url(database_url)
    if state.revisions == (head,) or (not state.revisions and state.tables_complete):
        return  # at head, or made from the models directly (tests, benchmarks)
    if not state.revisions:
        raise DatabaseNotMigrated(f"{where} has no schema yet: {UPGRADE_HINT}")
    if not all(_known(revision) for revision in state.revisions):
        raise DatabaseNotMigrated(f"{where} is at revision {', '.join(state.revisions)}, newer "
                                  f"than this version of alert-gateway knows ({head})")
    raise DatabaseNotMigrated(f"{where} is at revision {', '.join(state.revisions)}, "
                              f"not {head}: {UPGRADE_HINT}")


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL; None for other databases or an in-memory one."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def display_url(database_url: str) -> str:
    """The URL with its password hidden, for messages."""
    return make_url(database_url).render_as_string(hide_password=True)


async def _read_state(database_url: str) -> SchemaState:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_inspect)
    finally:
        await engine.dispose()


def _inspect(conn: Connection) -> SchemaState:
    import alert_gateway.db.models  # noqa: F401  (registers every table)

    revisions = tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
    tables = set(inspect(conn).get_table_names())
    return SchemaState(revisions=revisions, tables_complete=set(SQLModel.metadata.tables) <= tables)


def _known(revision: str) -> bool:
    try:
        return ScriptDirectory(str(MIGRATIONS_DIR)).get_revision(revision) is not None
    except CommandError:  # written by a newer version of the gateway
        return False


def _alembic(action: Callable[[Config, str], None], database_url: str, revision: str) -> None:
    try:
        _reach(database_url, lambda: action(alembic_config(database_url), revision))
    except CommandError as exc:
        raise InvalidInput(f"revision {revision!r}: {exc}") from None


def _reach(database_url: str, work: Callable[[], T]) -> T:
    """Run `work`; a database that does not answer becomes one clear Unreachable line."""
    try:
        return work()
    except (OSError, DBAPIError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise Unreachable(f"cannot reach the database {display_url(database_url)}: {reason}") from None
