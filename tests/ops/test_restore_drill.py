"""The restore drill of docs/operations.md: back up a live database mid-escalation, restore it into
a new one, start a gateway there, and the open alert carries on with its next step."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from alert_gateway.clock import FakeClock
from alert_gateway.db.escalation import AttemptStatus
from alert_gateway.db.models import Purpose
from tests.conftest import create_pg_database, drop_pg_database
from tests.escalation.env import DAUGHTER, SON, Env, escalation_env, policies_file, seed
from tests.harness import device_client

# Step 1 texts the daughter, step 2 the son a minute later: the drill backs up between the two.
SMS_STEPS = """
[[policy]]
name = "default"
redial = false
  [[policy.step]]
  targets = ["family:1"]
  channels = ["sms"]
  wait_seconds = 60
  [[policy.step]]
  targets = ["family:2"]
  channels = ["sms"]
  wait_seconds = 60
"""
TOOL_TIMEOUT = 60.0


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as pg_dump and pg_restore take it (no +asyncpg)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def run_tool(*args: str) -> None:
    """Run a PostgreSQL client tool; fail with its own words if it fails."""
    binary = shutil.which(args[0])
    assert binary, f"{args[0]} not found: apt-get install -y postgresql-client"
    proc = await asyncio.create_subprocess_exec(
        binary, *args[1:], stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    async with asyncio.timeout(TOOL_TIMEOUT):
        output, _ = await proc.communicate()
    assert proc.returncode == 0, f"{' '.join(args)} exited {proc.returncode}:\n{output.decode()}"


async def backup_and_restore(url: str, workdir: Path) -> str:
    """Back up the live database as docs/operations.md says, restore it anew; the new URL."""
    if url.startswith("sqlite"):
        live = make_url(url).database
        assert live
        copy = workdir / "restored" / "gateway.db"
        # The online backup API: a consistent copy while the gateway keeps writing (WAL included).
        await asyncio.to_thread(sqlite_backup, Path(live), copy)
        return f"sqlite+aiosqlite:///{copy}"
    dump = workdir / "gateway.dump"
    await run_tool("pg_dump", "--format=custom", f"--file={dump}", libpq_url(url))
    restored = await create_pg_database()
    await run_tool("pg_restore", "--no-owner", "--exit-on-error", f"--dbname={libpq_url(restored)}",
                   str(dump))
    return restored


async def retire(url: str) -> None:
    """Remove the old database, so that the restored copy is all there is."""
    if url.startswith("sqlite"):
        live = make_url(url).database
        assert live
        await asyncio.to_thread(remove_sqlite, Path(live))
    else:
        await drop_pg_database(url)


def sqlite_backup(source: Path, target: Path) -> None:
    """sqlite3.Connection.backup from the live file into a new one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    live, copy = sqlite3.connect(source), sqlite3.connect(target)
    try:
        live.backup(copy)
    finally:
        copy.close()
        live.close()


def remove_sqlite(database: Path) -> None:
    """Delete an SQLite database with its WAL and shared-memory files."""
    for name in (database.name, database.name + "-wal", database.name + "-shm"):
        (database.parent / name).unlink(missing_ok=True)


async def daughter_texted(env: Env) -> bool:
    """Step 1 is done: the daughter's SMS is delivered and recorded as such."""
    rows = await env.attempts(purpose=Purpose.ALERT.value, to_number=DAUGHTER)
    return any(a.status == AttemptStatus.DELIVERED.value for a in rows)


async def test_restored_database_carries_on_an_open_escalation(
    database_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """A backup taken mid-escalation, restored into a new database, sends the next step once."""
    await seed(database_url)
    policies = policies_file(tmp_path, SMS_STEPS)
    restored = ""
    try:
        async with escalation_env(database_url, topic_root, clock, policies_file=policies) as env, \
                device_client(topic_root, clock=clock) as dev:
            await dev.alarm("pendant-1", "m-1", "sos")
            await env.changes.until(lambda: daughter_texted(env))
            restored = await backup_and_restore(database_url, tmp_path)
        await retire(database_url)
        await clock.advance(61)  # step 2 falls due while no gateway runs
        async with escalation_env(restored, topic_root, clock, policies_file=policies) as env2:
            await env2.until_fake(lambda f: env2.sent(SON, "Messages"))
            assert env2.sent(DAUGHTER, "Messages") == [], "the restored gateway repeated step 1"
            rows = await env2.attempts(purpose=Purpose.ALERT.value)
            assert [(a.to_number, a.channel) for a in rows] == [(DAUGHTER, "sms"), (SON, "sms")]
            alert = await env2.alert()
            assert alert is not None and alert.status == "open"
    finally:
        if restored.startswith("postgresql"):
            await drop_pg_database(restored)
