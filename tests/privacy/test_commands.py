"""The personal-data commands and refusals, run as an operator would (in-process `main`)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alert_gateway.cli import main
from alert_gateway.db import sealed
from alert_gateway.db.migrate import upgrade_sync

from ..test_cli import REAL_LOOKING


@pytest.fixture
def fresh_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working directory, a migrated SQLite database, only the given variables."""
    for name in list(os.environ):
        if name.upper().startswith("ALERT_GATEWAY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    upgrade_sync(f"sqlite+aiosqlite:///{tmp_path}/data/alert-gateway.db")
    yield tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, list[str]]:
    """Exit code, stdout and the stderr lines of one command."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def test_serve_refuses_to_start_without_a_data_key(
    fresh_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real-looking Twilio settings but no ALERT_GATEWAY_DATA_KEY: exit 3, one line naming it."""
    for name, value in REAL_LOOKING.items():
        if name != "ALERT_GATEWAY_DATA_KEY":
            monkeypatch.setenv(name, value)
    code, _, err = run(capsys, "serve")
    assert code == 3 and len(err) == 1, err
    assert err[0].startswith("alert-gateway: refusing to start: ALERT_GATEWAY_DATA_KEY is not set")


def test_a_malformed_data_key_is_one_config_line(
    fresh_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key that is not a Fernet key is named by position, never echoed."""
    monkeypatch.setenv("ALERT_GATEWAY_DATA_KEY", f"{sealed.new_key()},not-a-key")
    code, _, err = run(capsys, "data", "rotate-key")
    assert (code, err) == (3, ["alert-gateway: ALERT_GATEWAY_DATA_KEY: key 2 is not a Fernet key "
                               "(32 url-safe base64 bytes)"])


def test_new_key_then_rotate_key(
    fresh_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`data new-key` prints a usable key; `data rotate-key` with it reports the rows re-sealed."""
    code, out, _ = run(capsys, "data", "new-key")
    assert code == 0
    monkeypatch.setenv("ALERT_GATEWAY_DATA_KEY", out.strip())
    code, out, err = run(capsys, "data", "rotate-key")
    assert (code, err) == (0, []) and out.startswith("Re-sealed 0 resident record(s)")


def test_rotate_key_without_a_key_says_how_to_make_one(
    fresh_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No key configured: exit 3 and the command that prints one."""
    code, _, err = run(capsys, "data", "rotate-key")
    assert code == 3 and len(err) == 1 and "alert-gateway data new-key" in err[0]




def test_erase_needs_confirmation_then_says_what_it_did(
    fresh_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --yes nothing happens (exit 2); with it, one summary line; an unknown id is one line."""
    monkeypatch.setenv("ALERT_GATEWAY_DATA_KEY", sealed.new_key())
    asyncio.run(add_resident(f"sqlite+aiosqlite:///{fresh_dir}/data/alert-gateway.db"))
    code, _, err = run(capsys, "residents", "erase", "r-001")
    assert (code, err) == (2, ["alert-gateway: erasing resident 'r-001' cannot be undone: add "
                               "--yes to confirm"])
    code, out, err = run(capsys, "residents", "erase", "r-001", "--yes", "--by", "suzuki")
    assert (code, err) == (0, []) and out.startswith("Resident 'r-001' erased: personal fields "
                                                     "cleared, 1 contact(s) anonymised"), out
    code, _, err = run(capsys, "residents", "erase", "nobody", "--yes")
    assert (code, err) == (2, ["alert-gateway: no resident 'nobody'"])


async def add_resident(url: str) -> None:
    """One resident with a contact, written as the service writes it."""
    from alert_gateway.db.engine import make_engine, make_sessions
    from alert_gateway.residents import service
    from alert_gateway.residents.schemas import ContactIn, ResidentIn

    engine = make_engine(url)
    now = datetime.now(UTC)
    async with make_sessions(engine)() as session:
        await service.create(session, data=ResidentIn(id="r-001", name="金沢 ハナ",
                                                      key_safe_code="4721"), now=now)
        await service.create_contact(session, resident_id="r-001", now=now, data=ContactIn(
            name="金沢 太郎", relation="family", phone="090-1111-2222"))
        await session.commit()
    await engine.dispose()


def test_the_data_key_may_come_from_a_secret_file(
    fresh_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ALERT_GATEWAY_DATA_KEY_FILE (a Docker or Kubernetes secret) works like the variable."""
    secret = fresh_dir / "data-key"
    secret.write_text(sealed.new_key() + "\n", encoding="utf-8")
    monkeypatch.setenv("ALERT_GATEWAY_DATA_KEY_FILE", str(secret))
    code, out, err = run(capsys, "data", "rotate-key")
    assert (code, err) == (0, []) and out.startswith("Re-sealed 0"), (out, err)
