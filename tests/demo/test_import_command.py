"""`alert-gateway import FILE`: a summary for a good file; each error by line and exit 2 for a bad one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from alert_gateway.cli import main

ROOT = Path(__file__).resolve().parents[2]

BAD_YAML = """\
residents:
  - id: r-0100
    name: 木村 一郎
    address: 石川県金沢市広坂1-1-1
    devices:
      - {id: pendant-0100, kind: pendant}
    contacts:
      - {name: 木村 花, relation: family, phone: "not a phone", priority: 1}
  - id: r-0101
    address: 石川県金沢市広坂1-1-2
"""


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The command's database: a SQLite file named by the environment, as an operator would."""
    path = tmp_path / "gateway.db"
    monkeypatch.setenv("ALERT_GATEWAY_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    return path


def resident_count(path: Path) -> int:
    """Residents stored in the SQLite file."""
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM resident").fetchone()[0])


def test_a_good_file_prints_the_summary(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The demo residents import; the summary says what was created, and again what was updated."""
    demo = str(ROOT / "config/demo/residents.yaml")
    assert main(["import", "--migrate", demo]) == 0
    assert "residents 6 created, 0 updated" in capsys.readouterr().out
    assert main(["import", demo]) == 0
    assert "residents 0 created, 6 updated" in capsys.readouterr().out
    assert resident_count(database) == 6


def test_a_bad_file_lists_every_error_by_line_and_exits_2(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each problem is printed with its line; nothing is written."""
    bad = tmp_path / "residents.yaml"
    bad.write_text(BAD_YAML, encoding="utf-8")
    assert main(["import", "--migrate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "nothing imported, 2 error(s)" in err
    assert "line 8: " in err and "phone" in err  # the contact's bad number
    assert "line 9: " in err and "name" in err  # the second resident has no name
    assert resident_count(database) == 0
