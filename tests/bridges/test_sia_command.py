"""`receive sia` on the command line, and `serve` starting the receiver when configured."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from alert_gateway.bridges.sia_bridge import SiaBridge
from alert_gateway.cli import main
from alert_gateway.clock import FakeClock
from alert_gateway.db.models import Alert
from tests.brokers import free_port
from tests.harness import WAIT_SECONDS, gateway_settings, running_gateway

from .sia_panel import Panel, frame
from .test_sia_receiver import accounts_file, seed


@pytest.fixture
def fresh_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working directory and no ALERT_GATEWAY_* variables."""
    for name in list(os.environ):
        if name.upper().startswith("ALERT_GATEWAY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def test_receive_sia_without_a_port_is_a_usage_error(
    fresh_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No --port and no ALERT_GATEWAY_SIA_PORT: one line saying so, exit 2."""
    assert main(["receive", "sia"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "alert-gateway: receive sia: give --port or set ALERT_GATEWAY_SIA_PORT"]


def test_a_bad_accounts_file_is_a_configuration_error(
    fresh_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An account that is not hex stops the receiver before it listens: exit 3, naming the entry."""
    bad = fresh_dir / "accounts.yaml"
    bad.write_text("accounts:\n  - {account: 'XYZ!', device: panel-1}\n", encoding="utf-8")
    code = main(["receive", "sia", "--port", str(free_port()), "--accounts", str(bad)])
    err = capsys.readouterr().err.splitlines()
    assert code == 3, err
    assert err == [f"alert-gateway: SIA accounts file {bad}, entry 1: account must be 3 to 16 "
                   "hex digits, got 'XYZ!'"]


async def test_serve_runs_the_receiver_when_sia_port_is_set(
    sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """With ALERT_GATEWAY_SIA_PORT set the gateway itself takes panels: a gas alarm is stored, then ACKed."""
    await seed(sqlite_url)
    port = free_port()
    settings = gateway_settings(sqlite_url, topic_root, sia_port=port,
                                sia_accounts_file=accounts_file(tmp_path))
    async with running_gateway(settings, clock=clock, schema=False) as (gateway, _changes):
        bridge = gateway.sia
        assert isinstance(bridge, SiaBridge)
        async with asyncio.timeout(WAIT_SECONDS):
            await bridge.ready()
        assert bridge.status() == "ok"  # as /readyz reports it
        panel = await Panel.connect(port)
        try:
            reply = await panel.send(frame("1234", 3, "Nri4/GA004", at=clock.now()))
        finally:
            await panel.close()
        assert reply.kind == "ACK", reply
        async with gateway.services.sessions() as s:
            [alert] = (await s.exec(select(Alert))).all()
        assert (alert.resident_id, alert.type) == ("r-1", "gas")


async def test_receive_sia_as_a_process_acks_after_the_gateway_stored_and_stops_on_sigterm(
    sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """`alert-gateway receive sia` in its own process forwards a panic to the gateway, ACKs, exits 0."""
    await seed(sqlite_url)
    port = free_port()
    (tmp_path / "empty.toml").touch()
    env = {**os.environ, "ALERT_GATEWAY_DATABASE_URL": sqlite_url,
           "ALERT_GATEWAY_MQTT_TOPIC_ROOT": topic_root,
           "ALERT_GATEWAY_MQTT_CLIENT_ID": f"agtest-sia-{port}", "ALERT_GATEWAY_LOG_JSON": "false"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "alert_gateway", "--config", str(tmp_path / "empty.toml"),
        "receive", "sia", "--port", str(port), "--accounts", str(accounts_file(tmp_path)),
        cwd=Path(__file__).parents[2], env=env, stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    seen: list[bytes] = []
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while not (any(b"listening" in s for s in seen) and any(b"connected" in s for s in seen)):
                seen.append(await proc.stderr.readline())
                assert seen[-1], b"".join(seen)  # exited before it was ready
        async with running_gateway(gateway_settings(sqlite_url, topic_root), clock=clock,
                                   schema=False):
            panel = await Panel.connect(port)
            try:
                reply = await panel.send(frame("1234", 11, "Nri1/PA501", at=clock.now()))
            finally:
                await panel.close()
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(WAIT_SECONDS):
            code = await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert reply.kind == "ACK", (reply, b"".join(seen))
    assert code == 0, await proc.stderr.read()
