"""`alert-gateway token create|list|revoke` against a real database."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
from sqlmodel import select

from alert_gateway.cli import main
from alert_gateway.db.auth import ApiToken
from alert_gateway.db.engine import make_engine, make_sessions

from ..conftest import create_schema


def stored(url: str) -> list[ApiToken]:
    """Every token row."""
    async def read() -> list[ApiToken]:
        engine = make_engine(url)
        try:
            async with make_sessions(engine)() as s:
                return list((await s.exec(select(ApiToken))).all())
        finally:
            await engine.dispose()

    return asyncio.run(read())


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite database with the schema, named in ALERT_GATEWAY_DATABASE_URL for the CLI."""
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    asyncio.run(create_schema(url))
    monkeypatch.setenv("ALERT_GATEWAY_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)  # no config/gateway.toml here: only the environment counts
    return url


def test_create_prints_the_token_once_and_stores_only_its_hash(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The printed token's SHA-256 is what the table holds; the token itself is nowhere."""
    assert main(["token", "create", "city-dashboard"]) == 0
    token = next(line for line in capsys.readouterr().out.splitlines() if len(line) == 43)
    [row] = stored(cli_db)
    assert row.name == "city-dashboard" and not row.revoked
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()


def test_list_and_revoke(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """list shows the token as active, revoke marks it, a second create of the name fails."""
    main(["token", "create", "ops"])
    capsys.readouterr()
    main(["token", "list"])
    row = capsys.readouterr().out.splitlines()[1].split()
    assert (row[0], row[-2], row[-1]) == ("ops", "never", "active")
    assert main(["token", "revoke", "ops"]) == 0
    assert stored(cli_db)[0].revoked
    assert main(["token", "create", "ops"]) == 2
    assert "already exists" in capsys.readouterr().err
