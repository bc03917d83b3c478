"""`alert-gateway token create|list|revoke` against a real database."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from alert_gateway.access import tokens
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


def list_rows(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """`token list` as {name: its whole line}."""
    assert main(["token", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "EXPIRES" in lines[0] and "LAST USED" in lines[0], lines
    return {line.split()[0]: line for line in lines[1:]}


def test_create_with_an_expiry(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--expires-in 90d stores an expiry 90 days on, and both create and list show it."""
    assert main(["token", "create", "city-dashboard", "--expires-in", "90d"]) == 0
    [row] = stored(cli_db)
    assert row.expires_at is not None
    assert row.expires_at - row.created_at == timedelta(days=90)
    shown = row.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert f"works until {shown}" in capsys.readouterr().out
    line = list_rows(capsys)["city-dashboard"]
    assert shown in line and line.endswith("active"), line


@pytest.mark.parametrize("age", ["soon", "90", "0d", "9999w", "-5d"])
def test_a_bad_expiry_is_one_usage_line(cli_db: str, capsys: pytest.CaptureFixture[str],
                                        age: str) -> None:
    """A malformed or absurd --expires-in is refused with exit code 2 and no token made."""
    with pytest.raises(SystemExit) as exit_:
        main(["token", "create", "ops", "--expires-in", age])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--expires-in" in err and "Traceback" not in err, err
    assert stored(cli_db) == []


def test_list_shows_expired_tokens_and_last_use(cli_db: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """An expired token is listed as expired; a used one shows when it was last used."""
    async def arrange() -> None:
        engine = make_engine(cli_db)
        try:
            async with make_sessions(engine)() as s:
                long_ago = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
                await tokens.create(s, name="old", now=long_ago, expires_in=timedelta(days=1))
                _, token = await tokens.create(s, name="used", now=long_ago)
                await tokens.authenticate(s, token=token, now=long_ago + timedelta(hours=3))
                await s.commit()
        finally:
            await engine.dispose()

    asyncio.run(arrange())
    rows = list_rows(capsys)
    assert rows["old"].endswith("expired") and "2026-01-06 09:00 UTC" in rows["old"], rows
    assert "2026-01-05 12:00 UTC" in rows["used"] and rows["used"].endswith("active"), rows
