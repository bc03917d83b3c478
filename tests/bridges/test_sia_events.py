"""What each kind of SIA event becomes at the gateway, and what the panel is answered."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

from alert_gateway.clock import FakeClock
from alert_gateway.db.messages import RejectedMessage
from alert_gateway.db.models import Alert
from tests.harness import WAIT_SECONDS, device_client, gateway_settings, running_gateway

from .sia_panel import Panel, frame, send_udp
from .test_sia_receiver import KEY, accounts_file, panel_of, rows, running_bridge, seed


async def test_power_failure_then_restore_opens_and_closes_a_p3(
    sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """AC trouble (AT) opens a P3 power_failure for the resident; AC restore (AR) closes it."""
    await seed(sqlite_url)
    settings = gateway_settings(sqlite_url, topic_root)
    async with (running_gateway(settings, clock=clock, schema=False),
                running_bridge(settings, clock, accounts_file(tmp_path)) as bridge,
                panel_of(bridge) as panel):
        trouble = await panel.send(frame("1234", 20, "Nri0/AT000", at=clock.now()))
        [opened] = await rows(sqlite_url, Alert)
        await clock.advance(seconds=60)
        restore = await panel.send(frame("1234", 21, "Nri0/AR000", at=clock.now()))
        [closed] = await rows(sqlite_url, Alert)
    assert (trouble.kind, restore.kind) == ("ACK", "ACK")
    assert (opened.type, opened.severity, opened.status) == ("power_failure", "P3", "open"), opened
    assert closed.status == "resolved", closed


async def test_a_code_outside_the_table_is_raised_as_p1_unknown(
    sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """A burglary alarm (BA), which we do not map, is still an alarm: P1 unknown, raw code kept."""
    await seed(sqlite_url)
    settings = gateway_settings(sqlite_url, topic_root)
    async with (running_gateway(settings, clock=clock, schema=False),
                running_bridge(settings, clock, accounts_file(tmp_path)) as bridge,
                panel_of(bridge) as panel):
        reply = await panel.send(frame("1234", 30, "Nri5/BA005", at=clock.now()))
    [alert] = await rows(sqlite_url, Alert)
    assert reply.kind == "ACK", reply
    assert (alert.type, alert.raw_type, alert.severity) == ("unknown", "sia_BA", "P1"), alert


async def test_bookkeeping_gets_duh_link_tests_and_arming_get_ack_and_none_opens_an_alert(
    sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """Remote programming (RS) is DUH and kept; a NULL link test and a disarm (OP) are ACKed; no alert."""
    await seed(sqlite_url)
    settings = gateway_settings(sqlite_url, topic_root)
    async with (running_gateway(settings, clock=clock, schema=False),
                running_bridge(settings, clock, accounts_file(tmp_path)) as bridge,
                panel_of(bridge) as panel):
        ignored = await panel.send(frame("1234", 40, "Nri0/RS000", at=clock.now()))
        link = await panel.send(frame("1234", 41, "", at=clock.now(), message_type="NULL"))
        disarm = await panel.send(frame("1234", 42, "Nri1/OP001", at=clock.now()))
    assert (ignored.kind, link.kind, disarm.kind) == ("DUH", "ACK", "ACK")
    [kept] = await rows(sqlite_url, RejectedMessage)
    assert (kept.reason, kept.device_id) == ("sia_ignored", "panel-1"), kept
    assert await rows(sqlite_url, Alert) == []


async def test_an_event_we_cannot_decrypt_is_naked_and_still_opens_a_p1(
    sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """An encrypted frame from an account without a key: NAK, kept as sia_no_key, and a P1 to go and see."""
    await seed(sqlite_url)
    settings = gateway_settings(sqlite_url, topic_root)
    async with (running_gateway(settings, clock=clock, schema=False),
                running_bridge(settings, clock, accounts_file(tmp_path)) as bridge,
                panel_of(bridge) as panel):
        reply = await panel.send(frame("BEEF", 50, "Nri1/PA501", at=clock.now(), key=KEY))
    assert reply.kind == "NAK", reply
    [kept] = await rows(sqlite_url, RejectedMessage)
    assert (kept.reason, kept.device_id) == ("sia_no_key", "sia-BEEF"), kept
    [alert] = await rows(sqlite_url, Alert)
    assert (alert.device_id, alert.type, alert.severity) == ("sia-BEEF", "unknown", "P1"), alert


async def test_a_panel_with_a_wrong_clock_loses_nothing(
    sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """An encrypted panic stamped 5 minutes ago is stored but NAKed; its repeat on time is ACKed."""
    await seed(sqlite_url)
    settings = gateway_settings(sqlite_url, topic_root)
    async with (running_gateway(settings, clock=clock, schema=False),
                running_bridge(settings, clock, accounts_file(tmp_path)) as bridge,
                panel_of(bridge) as panel):
        late = clock.now() - timedelta(minutes=5)
        first = await panel.send(frame("AAA1", 60, "Nri1/PA501", at=late, key=KEY))
        [alert] = await rows(sqlite_url, Alert)
        again = await panel.send(frame("AAA1", 60, "Nri1/PA501", at=clock.now(), key=KEY))
    assert (first.kind, again.kind) == ("NAK", "*ACK")
    assert (alert.resident_id, alert.type) == ("r-2", "sos")
    assert [a.id for a in await rows(sqlite_url, Alert)] == [alert.id]
    [kept] = await rows(sqlite_url, RejectedMessage)
    assert kept.reason == "sia_timestamp", kept


async def test_frames_cut_off_or_endless_are_kept(
    sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """A connection that closes mid-frame, or sends 2 KB without a CR, leaves the bytes as sia_format."""
    await seed(sqlite_url)
    settings = gateway_settings(sqlite_url, topic_root)
    async with (running_gateway(settings, clock=clock, schema=False),
                running_bridge(settings, clock, accounts_file(tmp_path)) as bridge):
        assert bridge.receiver.port is not None
        for garbage in (b"\n1A2B0030\"SIA-DCS\"0001R0L0#1234[", b"x" * 2048):
            panel = await Panel.connect(bridge.receiver.port)
            panel.writer.write(garbage)
            panel.writer.write_eof()
            await panel.reader.read()  # the receiver hangs up once it has kept the bytes
            await panel.close()
    kept = await rows(sqlite_url, RejectedMessage)
    assert sorted(k.reason for k in kept) == ["sia_format", "sia_format"], kept


async def test_stopping_while_an_alarm_waits_answers_nothing_and_hangs_up_at_once(
    sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """A receiver stopped while an alarm awaits the gateway closes the connection unanswered, so the
    panel repeats it later; it does not sit out its 30 s ack timeout."""
    settings = gateway_settings(sqlite_url, topic_root, sia_ack_timeout_seconds=30)
    async with device_client(topic_root) as watcher:
        await watcher.client.subscribe(f"{topic_root}/panel-1/alarm", qos=1)
        async with running_bridge(settings, clock, accounts_file(tmp_path)) as bridge:
            assert bridge.receiver.port is not None
            panel = await Panel.connect(bridge.receiver.port)
            panel.writer.write(frame("1234", 70, "Nri1/PA501", at=clock.now()))
            async with asyncio.timeout(WAIT_SECONDS):
                forwarded = await anext(aiter(watcher.client.messages))
        async with asyncio.timeout(WAIT_SECONDS):
            assert await panel.reader.read() == b""  # no ACK, no NAK: hung up
        await panel.close()
    assert json.loads(forwarded.payload)["type"] == "sos"  # type: ignore[arg-type]


async def test_a_panic_over_udp_is_stored_then_acked(
    sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """A panel on UDP (same port) gets its ACK datagram only after the sos is stored."""
    await seed(sqlite_url)
    settings = gateway_settings(sqlite_url, topic_root)
    async with (running_gateway(settings, clock=clock, schema=False),
                running_bridge(settings, clock, accounts_file(tmp_path)) as bridge):
        assert bridge.receiver.port is not None
        reply = await send_udp(bridge.receiver.port, frame("1234", 80, "Nri1/PA501", at=clock.now()))
        [alert] = await rows(sqlite_url, Alert)
    assert (reply.kind, reply.crc_ok) == ("ACK", True), reply
    assert (alert.resident_id, alert.type) == ("r-1", "sos")
