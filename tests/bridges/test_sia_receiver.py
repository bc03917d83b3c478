"""A simulated alarm panel talks SIA DC-09 over TCP to the receiver; the real gateway stores."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from prometheus_client import CollectorRegistry
from sqlmodel import select

from alert_gateway.bridges.sia_accounts import load_accounts
from alert_gateway.bridges.sia_bridge import SiaBridge
from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.messages import InboundMessage, RejectedMessage
from alert_gateway.db.models import Alert, Device, Resident
from alert_gateway.settings import Settings
from tests.conftest import create_schema
from tests.harness import WAIT_SECONDS, gateway_settings, running_gateway

from .sia_panel import Panel, frame

KEY = "0123456789ABCDEF"  # AES-128 as pysiaalarm takes keys: 16 hex characters


def accounts_file(directory: Path) -> Path:
    """Two panels: 1234 in clear, AAA1 encrypted with KEY (from its own secret file)."""
    (directory / "aaa1.key").write_text(KEY + "\n", encoding="ascii")
    path = directory / "sia-accounts.yaml"
    path.write_text("accounts:\n"
                    "  - {account: '1234', device: panel-1}\n"
                    "  - {account: 'AAA1', device: panel-2, key_file: aaa1.key}\n", encoding="utf-8")
    return path


async def seed(url: str) -> None:
    """Residents r-1 and r-2 with their panels."""
    await create_schema(url)
    engine = make_engine(url)
    async with make_sessions(engine)() as s:
        s.add_all([Resident(id="r-1", name="山田 花子"), Resident(id="r-2", name="佐藤 一郎")])
        await s.flush()
        s.add_all([Device(id="panel-1", resident_id="r-1", kind="panel"),
                   Device(id="panel-2", resident_id="r-2", kind="panel")])
        await s.commit()
    await engine.dispose()


@asynccontextmanager
async def running_bridge(settings: Settings, clock: FakeClock, accounts: Path
                         ) -> AsyncIterator[SiaBridge]:
    """The receiver on a free port, ready for panels, stopped afterwards."""
    engine = make_engine(settings.database_url)
    bridge = SiaBridge(settings, sessions=make_sessions(engine), clock=clock,
                       registry=CollectorRegistry(), port=0, accounts=load_accounts(accounts))
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            await bridge.ready()
        yield bridge
    finally:
        stop.set()
        await task
        await engine.dispose()


@asynccontextmanager
async def panel_of(bridge: SiaBridge) -> AsyncIterator[Panel]:
    """A panel connected to the bridge's receiver."""
    assert bridge.receiver.port is not None
    panel = await Panel.connect(bridge.receiver.port)
    try:
        yield panel
    finally:
        await panel.close()


async def rows(url: str, model: type) -> list:  # type: ignore[type-arg]
    """Every row of one table, read after the panel's answer (ACK means committed)."""
    engine = make_engine(url)
    try:
        async with make_sessions(engine)() as s:
            return list((await s.exec(select(model))).all())
    finally:
        await engine.dispose()


async def test_plain_panic_is_stored_as_sos_for_the_resident_then_acked(
    database_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """A panic (PA) in clear opens a P1 sos for the panel's resident, and only then the panel gets ACK."""
    await seed(database_url)
    settings = gateway_settings(database_url, topic_root)
    async with (running_gateway(settings, clock=clock, schema=False),
                running_bridge(settings, clock, accounts_file(tmp_path)) as bridge,
                panel_of(bridge) as panel):
        reply = await panel.send(frame("1234", 1, "Nri1/PA501", at=clock.now()))
        assert (reply.kind, reply.crc_ok) == ("ACK", True), reply
        assert '"ACK"0001R0L0#1234[]' == reply.body
        [alert] = await rows(database_url, Alert)
        assert (alert.resident_id, alert.device_id, alert.type, alert.severity) == (
            "r-1", "panel-1", "sos", "P1"), alert


async def test_encrypted_account_is_decrypted_stored_and_acked_encrypted(
    sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """An AES-encrypted fire alarm (FA) from account AAA1 opens a smoke alert; the ACK is encrypted."""
    await seed(sqlite_url)
    settings = gateway_settings(sqlite_url, topic_root)
    async with (running_gateway(settings, clock=clock, schema=False),
                running_bridge(settings, clock, accounts_file(tmp_path)) as bridge,
                panel_of(bridge) as panel):
        reply = await panel.send(frame("AAA1", 42, "Nri3/FA003", at=clock.now(), key=KEY))
        assert (reply.kind, reply.crc_ok) == ("*ACK", True), reply
        assert reply.body.startswith('"*ACK"0042R0L0#AAA1['), reply
        [alert] = await rows(sqlite_url, Alert)
        assert (alert.resident_id, alert.type, alert.severity) == ("r-2", "smoke", "P1"), alert


async def test_bad_crc_is_naked_and_kept_as_rejected(
    sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """A frame whose CRC does not match gets NAK, opens nothing, and is kept raw with reason sia_crc."""
    await seed(sqlite_url)
    settings = gateway_settings(sqlite_url, topic_root)
    raw = frame("1234", 2, "Nri1/PA501", at=clock.now(), bad_crc=True)
    async with (running_gateway(settings, clock=clock, schema=False),
                running_bridge(settings, clock, accounts_file(tmp_path)) as bridge,
                panel_of(bridge) as panel):
        reply = await panel.send(raw)
        assert (reply.kind, reply.crc_ok) == ("NAK", True), reply
        [kept] = await rows(sqlite_url, RejectedMessage)
        assert (kept.reason, kept.device_id, kept.payload) == ("sia_crc", "panel-1", raw), kept
        assert await rows(sqlite_url, Alert) == []


async def test_unknown_account_reaches_the_console_as_p1(
    database_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """A medical alarm from an account nobody configured opens a P1 for an unregistered device."""
    await seed(database_url)
    settings = gateway_settings(database_url, topic_root)
    async with (running_gateway(settings, clock=clock, schema=False),
                running_bridge(settings, clock, accounts_file(tmp_path)) as bridge,
                panel_of(bridge) as panel):
        reply = await panel.send(frame("9999", 5, "Nri1/MA001", at=clock.now()))
        assert reply.kind == "ACK", reply
        [alert] = await rows(database_url, Alert)
        assert (alert.device_id, alert.resident_id, alert.unregistered, alert.severity) == (
            "sia-9999", None, True, "P1"), alert


async def test_a_repeat_of_the_same_sequence_is_not_a_second_alert(
    sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """A panel that repeats a frame (same sequence) is ACKed twice and the gateway holds one alarm."""
    await seed(sqlite_url)
    settings = gateway_settings(sqlite_url, topic_root)
    async with (running_gateway(settings, clock=clock, schema=False),
                running_bridge(settings, clock, accounts_file(tmp_path)) as bridge,
                panel_of(bridge) as panel):
        first = await panel.send(frame("1234", 9, "Nri1/PA501", at=clock.now()))
        await clock.advance(seconds=20)  # the panel's retry interval: a new timestamp, same frame
        again = await panel.send(frame("1234", 9, "Nri1/PA501", at=clock.now()))
        assert (first.kind, again.kind) == ("ACK", "ACK")
        assert len(await rows(sqlite_url, InboundMessage)) == 1
        assert len(await rows(sqlite_url, Alert)) == 1


async def test_gateway_down_means_no_ack_and_the_repeat_is_stored_once(
    database_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """With the gateway down the panel gets NAK; its repeat once the gateway is back is ACKed, one alert."""
    await seed(database_url)
    settings = gateway_settings(database_url, topic_root, sia_ack_timeout_seconds=0.5)
    async with running_gateway(settings, clock=clock, schema=False):
        pass  # its persistent session: the broker keeps the alarm for it while it is down
    raw = frame("1234", 17, "Nri2/PA501", at=clock.now())
    async with (running_bridge(settings, clock, accounts_file(tmp_path)) as bridge,
                panel_of(bridge) as panel):
        down = await panel.send(raw)
        assert down.kind == "NAK", down
        assert await rows(database_url, Alert) == []
        async with running_gateway(settings, clock=clock, schema=False):
            answers = [await panel.send(raw)]  # a panel repeats until ACK: allow a slow restart
            while answers[-1].kind == "NAK" and len(answers) < 10:
                answers.append(await panel.send(raw))
            assert answers[-1].kind == "ACK", answers
        [alert] = await rows(database_url, Alert)
        assert alert.type == "sos"
        assert len(await rows(database_url, InboundMessage)) == 1
