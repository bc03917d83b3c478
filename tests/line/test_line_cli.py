"""`alert-gateway line code CONTACT_ID` prints a code that links; an unknown contact is one line."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alert_gateway.cli import main
from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.migrate import upgrade
from alert_gateway.db.models import Contact, Resident
from alert_gateway.line import linking


async def test_the_cli_prints_a_code_that_links_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The printed code links the contact; a contact that does not exist exits 2 in one line."""
    url = f"sqlite+aiosqlite:///{tmp_path}/gateway.db"
    await upgrade(url)
    engine = make_engine(url)
    sessions = make_sessions(engine)
    async with sessions() as s:
        s.add(Resident(id="r-1", name="山田 花子"))
        await s.flush()
        s.add(Contact(resident_id="r-1", name="山田 京子", relation="family", phone="+819011110001"))
        await s.commit()
    monkeypatch.setenv("ALERT_GATEWAY_DATABASE_URL", url)
    config = tmp_path / "empty.toml"
    config.touch()
    assert await _cli(["--config", str(config), "line", "code", "1"]) == 0
    out = capsys.readouterr().out
    found = re.search(r"^([A-Z0-9]{4}-[A-Z0-9]{4})$", out, re.MULTILINE)
    assert found and "山田 京子" in out, out
    async with sessions() as s:
        code = linking.normalize(found[1])
        assert code is not None
        contact = await linking.redeem(s, code=code, line_user_id="U" + "c" * 32,
                                       now=datetime.now(UTC))
        assert contact is not None and contact.name == "山田 京子"
    await engine.dispose()
    assert await _cli(["--config", str(config), "line", "code", "99"]) == 2
    assert capsys.readouterr().err == "alert-gateway: no active contact 99\n"


async def test_the_cli_prints_a_code_that_links_a_resident(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`line resident-code` links the resident's own LINE (for sweeps); unknown: exit 2."""
    url = f"sqlite+aiosqlite:///{tmp_path}/gateway.db"
    await upgrade(url)
    engine = make_engine(url)
    sessions = make_sessions(engine)
    async with sessions() as s:
        s.add(Resident(id="r-1", name="山田 花子"))
        await s.commit()
    monkeypatch.setenv("ALERT_GATEWAY_DATABASE_URL", url)
    config = tmp_path / "empty.toml"
    config.touch()
    assert await _cli(["--config", str(config), "line", "resident-code", "r-1"]) == 0
    out = capsys.readouterr().out
    found = re.search(r"^([A-Z0-9]{4}-[A-Z0-9]{4})$", out, re.MULTILINE)
    assert found and "山田 花子 (resident r-1)" in out, out
    async with sessions() as s:
        code = linking.normalize(found[1])
        assert code is not None
        owner = await linking.redeem(s, code=code, line_user_id="U" + "c" * 32,
                                     now=datetime.now(UTC))
        assert isinstance(owner, Resident) and owner.line_user_id == "U" + "c" * 32
    await engine.dispose()
    assert await _cli(["--config", str(config), "line", "resident-code", "r-9"]) == 2
    assert capsys.readouterr().err == "alert-gateway: no active resident r-9\n"


async def _cli(argv: list[str]) -> int:
    """The CLI runs its own event loop: run it in a thread, as a shell would in a process."""
    return await asyncio.to_thread(main, argv)
