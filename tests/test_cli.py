"""The command line's answers to ordinary mistakes: one line on stderr and a distinct exit code."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from alert_gateway.cli import main
from alert_gateway.db.migrate import head_revision, upgrade, upgrade_sync
from tests.brokers import free_port
from tests.conftest import MQTT_URL
from tests.processes import READY_LINE, gateway_process

START_SECONDS = 30
# Values shaped like real Twilio credentials, for a gateway that must not be a drill.
REAL_LOOKING = {
    "ALERT_GATEWAY_TWILIO_ACCOUNT_SID": "AC" + "3f1c" * 8,
    "ALERT_GATEWAY_TWILIO_AUTH_TOKEN": "9be2" * 8,
    "ALERT_GATEWAY_TWILIO_FROM_NUMBER": "+81762001234",
    "ALERT_GATEWAY_PUBLIC_URL": "https://gateway.city-kanazawa.jp",
    "ALERT_GATEWAY_TWILIO_API_BASE": "http://127.0.0.1:9",  # nothing is ever sent for real
    "ALERT_GATEWAY_DATA_KEY": "dGVzdC1kYXRhLWtleS1mb3ItYWxlcnQtZ2F0ZXdheSE=",
}


@pytest.fixture
def fresh_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working directory and no ALERT_GATEWAY_* variables: a newcomer's first run."""
    for name in list(os.environ):
        if name.upper().startswith("ALERT_GATEWAY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, list[str]]:
    """Exit code, stdout and the stderr lines of one command."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def empty(directory: Path) -> str:
    """An empty settings file, so that only the environment counts."""
    path = directory / "empty.toml"
    path.touch()
    return str(path)


def migrated(directory: Path) -> None:
    """The default SQLite database of `directory`, at head."""
    upgrade_sync(f"sqlite+aiosqlite:///{directory}/data/alert-gateway.db")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`--version` prints the program and its version and exits 0."""
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.startswith("alert-gateway 0.")


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    """`--help` lists every exit code a script may test for."""
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for line in ("2  usage", "3  configuration", "4  database not migrated", "5  the HTTP port"):
        assert line in out


def test_a_missing_config_file_is_an_error(fresh_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--config` naming a file that does not exist is refused, not silently ignored."""
    code, _, err = run(capsys, "--config", "gateway.tmol", "db", "current")
    assert (code, err) == (3, ["alert-gateway: --config gateway.tmol: no such file"])


def test_a_bad_environment_value_is_one_line(
    fresh_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value that is not a number names its variable, with exit code 3."""
    monkeypatch.setenv("ALERT_GATEWAY_HTTP_PORT", "eighty")
    code, _, err = run(capsys, "db", "current")
    assert (code, err) == (3, ["alert-gateway: ALERT_GATEWAY_HTTP_PORT must be a whole number (got eighty)"])


def test_db_upgrade_in_a_fresh_directory_creates_the_data_folder(
    fresh_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default SQLite file's folder is created; the schema ends at this version's head."""
    code, out, err = run(capsys, "db", "upgrade")
    assert (code, err) == (0, [])
    assert out == f"database schema: {head_revision()} (head)\n"
    assert (fresh_dir / "data" / "alert-gateway.db").is_file()


def test_db_current_and_downgrade(fresh_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`current` reads without creating the file; `downgrade base` empties; a bad revision is usage."""
    assert run(capsys, "db", "current")[1].endswith(f": none; this version's head is {head_revision()}\n")
    assert not (fresh_dir / "data").exists()
    migrated(fresh_dir)
    assert run(capsys, "db", "current")[1].endswith(f": {head_revision()} (head)\n")
    code, _, err = run(capsys, "db", "downgrade", "no-such-revision")
    assert code == 2 and len(err) == 1 and "no-such-revision" in err[0]
    assert run(capsys, "db", "downgrade", "base")[:2] == (
        0, f"database schema: none; this version's head is {head_revision()}\n")


@pytest.mark.parametrize("argv", [["token", "create", "ops"], ["token", "list"],
                                  ["user", "add", "sato"], ["import", "residents.yaml"]])
def test_commands_before_migrating_say_so_and_create_nothing(
    fresh_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """Exit code 4 and the command to run; no empty database file is left behind."""
    code, _, err = run(capsys, *argv)
    assert (code, err) == (4, ["alert-gateway: sqlite+aiosqlite:///data/alert-gateway.db has no "
                               "schema yet: run `alert-gateway db upgrade` first"])
    assert not (fresh_dir / "data").exists()


def test_an_unreachable_database_is_one_line(
    fresh_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL not answering gives exit code 6 and never shows the password."""
    url = f"postgresql+asyncpg://gw:s3cret@127.0.0.1:{free_port()}/gw"
    monkeypatch.setenv("ALERT_GATEWAY_DATABASE_URL", url)
    code, _, err = run(capsys, "token", "list")
    assert code == 6 and len(err) == 1 and "cannot reach the database" in err[0]
    assert "s3cret" not in err[0]


def test_serve_refuses_the_placeholder_token_in_one_line(fresh_dir: Path) -> None:
    """No Twilio token set: `serve` (which would take webhooks signed with change-me) names the
    variable and exits 3 without a traceback."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("ALERT_GATEWAY_")}
    env |= {k: v for k, v in REAL_LOOKING.items() if "TOKEN" not in k}
    done = subprocess.run([sys.executable, "-m", "alert_gateway", "--config", empty(fresh_dir), "serve"],
                          env=env, cwd=Path(__file__).parents[1], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 3
    assert done.stderr.splitlines() == [
        "alert-gateway: refusing to start: ALERT_GATEWAY_TWILIO_AUTH_TOKEN is not set (the "
        "placeholder 'change-me' would let anyone sign webhooks) (for a drill with the project's "
        "fake Twilio set ALERT_GATEWAY_DRILL_MODE=true)"
    ]


@pytest.mark.parametrize(("variable", "placeholder"), [
    ("ALERT_GATEWAY_TWILIO_AUTH_TOKEN", "change-me"),
    ("ALERT_GATEWAY_TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
    ("ALERT_GATEWAY_TWILIO_FROM_NUMBER", "+815000000000"),
    ("ALERT_GATEWAY_PUBLIC_URL", "http://127.0.0.1:8080"),
    ("ALERT_GATEWAY_PUBLIC_URL", "https://gateway.example.jp"),
])
def test_serve_refuses_each_placeholder(
    fresh_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    variable: str, placeholder: str,
) -> None:
    """Any one placeholder among the Twilio settings and public URL stops the start (exit 3)."""
    for name, value in (REAL_LOOKING | {variable: placeholder}).items():
        monkeypatch.setenv(name, value)
    code, _, err = run(capsys, "serve")
    assert code == 3 and len(err) == 1
    assert err[0].startswith(f"alert-gateway: refusing to start: {variable} ")


def test_serve_before_migrating_exits_4(
    fresh_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve` on a database without the schema says to run `db upgrade`."""
    monkeypatch.setenv("ALERT_GATEWAY_DRILL_MODE", "true")
    monkeypatch.setenv("ALERT_GATEWAY_HTTP_PORT", str(free_port()))
    code, _, err = run(capsys, "serve")
    assert code == 4 and len(err) == 1 and "db upgrade" in err[0]


def test_serve_on_a_busy_port_exits_5(
    fresh_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process listening on the HTTP port is named in one line, before anything starts."""
    migrated(fresh_dir)
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        monkeypatch.setenv("ALERT_GATEWAY_DRILL_MODE", "true")
        monkeypatch.setenv("ALERT_GATEWAY_HTTP_PORT", str(port))
        code, _, err = run(capsys, "serve")
    assert (code, err) == (5, [f"alert-gateway: cannot listen on 127.0.0.1:{port}: another "
                               "process uses the port (ALERT_GATEWAY_HTTP_PORT)"])


@pytest.mark.parametrize("argv", [["fake-twilio", "--port"],
                                  ["demo", "--port", str(free_port()), "--twilio-port"]])
def test_other_servers_on_a_busy_port_exit_5(
    fresh_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """The fake Twilio and the demo name their busy port option, with the same exit code."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        code, _, err = run(capsys, *argv, str(port))
    assert (code, err) == (5, [f"alert-gateway: cannot listen on 127.0.0.1:{port}: another "
                               f"process uses the port ({argv[-1]})"])


async def gateway_env(tmp_path: Path) -> dict[str, str]:
    """A migrated SQLite file, the test broker, unique topics and a free port."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    await upgrade(url)
    return {
        "ALERT_GATEWAY_DATABASE_URL": url,
        "ALERT_GATEWAY_MQTT_URL": MQTT_URL,
        "ALERT_GATEWAY_MQTT_TOPIC_ROOT": f"agtest-{uuid.uuid4().hex[:10]}/eldercare/v1/devices",
        "ALERT_GATEWAY_MQTT_CLIENT_ID": f"agtest-cli-{uuid.uuid4().hex[:8]}",
        "ALERT_GATEWAY_HTTP_PORT": str(free_port()),
    }


async def test_drill_mode_starts_with_placeholder_credentials(tmp_path: Path) -> None:
    """ALERT_GATEWAY_DRILL_MODE=true: the built-in token and a loopback URL are accepted."""
    env = await gateway_env(tmp_path) | {
        "ALERT_GATEWAY_DRILL_MODE": "true",
        "ALERT_GATEWAY_TWILIO_AUTH_TOKEN": "change-me",
        "ALERT_GATEWAY_PUBLIC_URL": "http://127.0.0.1:9",
    }
    async with gateway_process(env) as proc:
        assert proc.returncode is None


async def test_a_real_configuration_starts_and_warns_about_http_and_no_dispatch_centre(
    tmp_path: Path,
) -> None:
    """Not a drill: an http public URL and no dispatch phone are warnings at start, not refusals."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("ALERT_GATEWAY_")}
    env |= await gateway_env(tmp_path) | REAL_LOOKING | {
        "ALERT_GATEWAY_PUBLIC_URL": "http://gateway.city-kanazawa.jp"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "alert_gateway", "--config", empty(tmp_path), "serve",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    lines: list[bytes] = []
    try:
        async with asyncio.timeout(START_SECONDS):
            while READY_LINE not in (line := await proc.stderr.readline()):
                assert line, f"gateway exited before connecting: {lines}"
                lines.append(line)
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(START_SECONDS):
            await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = b"".join(lines).decode()
    assert "ALERT_GATEWAY_PUBLIC_URL is not https" in text
    assert "ALERT_GATEWAY_DISPATCH_PHONE is not set" in text
    assert "drill mode" not in text


async def test_serve_starts_while_the_database_does_not_answer(tmp_path: Path) -> None:
    """A database still booting is a warning, not an exit: the gateway retries it and takes MQTT."""
    env = await gateway_env(tmp_path) | {
        "ALERT_GATEWAY_DRILL_MODE": "true",
        "ALERT_GATEWAY_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/gw",
    }
    async with gateway_process(env) as proc:
        assert proc.returncode is None
