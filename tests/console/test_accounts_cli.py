"""Accounts from the command line (`user add|list|passwd`) and the last supervisor's guard."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from sqlmodel import col, select

from alert_gateway.cli import main
from alert_gateway.console import accounts
from alert_gateway.console.passwords import verify_password_async
from alert_gateway.db.auth import Operator, Role
from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.migrate import upgrade
from alert_gateway.errors import Conflict

from ..conftest import create_schema

NEW_PASSWORD = "staple-battery-horse-9"


def _user(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str,
          stdin: str = "") -> tuple[int, str, str]:
    """One `alert-gateway user ...` run in this process, with `stdin` piped in."""
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["user", *argv])
    out, err = capsys.readouterr()
    return code, out, err


async def _add(url: str, *rows: Operator) -> None:
    """Accounts written directly (`user add` has its own test in test_auth.py)."""
    engine = make_engine(url)
    try:
        async with make_sessions(engine)() as session:
            session.add_all(rows)
            await session.commit()
    finally:
        await engine.dispose()


async def _operator(url: str, name: str) -> Operator:
    engine = make_engine(url)
    try:
        async with make_sessions(engine)() as session:
            return (await session.exec(select(Operator).where(col(Operator.name) == name))).one()
    finally:
        await engine.dispose()


def test_user_list_and_passwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    """Accounts are listed one a line; `passwd` takes the new password from a pipe; an unknown
    name or a weak password is one line and a non-zero exit."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'accounts.db'}"
    monkeypatch.setenv("ALERT_GATEWAY_DATABASE_URL", url)
    asyncio.run(upgrade(url))
    asyncio.run(_add(url, Operator(name="sato", role=Role.SUPERVISOR.value,
                                   display_name="佐藤 主任", password_hash="old"),
                     Operator(name="hanako", password_hash="old", phone="+819055556666")))

    code, out, _ = _user(monkeypatch, capsys, "list")
    assert code == 0
    assert out.splitlines() == ["hanako\toperator\tactive\tja\t+819055556666\t",
                                "sato\tsupervisor\tactive\tja\t-\t佐藤 主任"]

    code, out, err = _user(monkeypatch, capsys, "passwd", "hanako", stdin=NEW_PASSWORD + "\n")
    assert code == 0, err
    assert "hanako" in out
    stored = asyncio.run(_operator(url, "hanako")).password_hash
    assert asyncio.run(verify_password_async(stored, NEW_PASSWORD))

    code, _, err = _user(monkeypatch, capsys, "passwd", "nobody", stdin=NEW_PASSWORD + "\n")
    assert code != 0 and "nobody" in err
    code, _, err = _user(monkeypatch, capsys, "passwd", "hanako", stdin="short\n")
    assert code == 2 and err.count("\n") == 1, err


async def test_the_last_active_supervisor_cannot_be_deactivated(tmp_path: Path) -> None:
    """With two supervisors one may go; the last one left is refused."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'last.db'}"
    await create_schema(url)
    engine = make_engine(url)
    try:
        async with make_sessions(engine)() as session:
            rows = [Operator(name=name, role=Role.SUPERVISOR.value, password_hash="x")
                    for name in ("sato", "suzuki")]
            session.add_all(rows)
            await session.flush()
            first, second = (row.id for row in rows)
            assert first is not None and second is not None
            await accounts.set_active(session, operator_id=first, active=False)
            with pytest.raises(Conflict, match="last active supervisor"):
                await accounts.set_active(session, operator_id=second, active=False)
            await accounts.set_active(session, operator_id=first, active=True)
            await accounts.set_active(session, operator_id=second, active=False)
    finally:
        await engine.dispose()
