"""Hostile messages over the real broker: each is stored or kept, and the alarm after it lands as usual."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from alert_gateway.alerts.rules import SKEW_COLUMN_MAX
from alert_gateway.clock import FakeClock
from alert_gateway.db.models import Alert, AlertEvent, InboundMessage, RejectedMessage
from devices.contract import Channel
from tests.harness import device_client, gateway_settings, running_gateway

# device -> (payload as the device sent it, what the gateway keeps: a rejection reason or a skew)
NOW = "2026-12-06T03:00:00+09:00"
BAD = "invalid_value"
HOSTILE: dict[str, tuple[bytes, str | int]] = {
    "ts-2100": (b'{"id":"h1","type":"sos","ts":"2100-01-01T00:00:00Z"}', SKEW_COLUMN_MAX),
    "ts-0001": (b'{"id":"h1","type":"sos","ts":"0001-01-01T00:00:00+09:00"}', -SKEW_COLUMN_MAX),
    "ts-9999": (b'{"id":"h1","type":"fall","ts":"9999-12-31T23:59:59-05:00"}', SKEW_COLUMN_MAX),
    "nan": (b'{"id":"h1","type":"sos","ts":"%s","data":{"t":NaN}}' % NOW.encode(), "invalid_value"),
    "inf": (b'{"id":"h1","type":"sos","ts":"%s","data":{"t":-Infinity}}' % NOW.encode(), "invalid_value"),
    "1e400": (b'{"id":"h1","type":"sos","ts":"%s","data":{"t":1e400}}' % NOW.encode(), "invalid_value"),
    "nul-id": (b'{"id":"h\\u00001","type":"sos","ts":"%s"}' % NOW.encode(), "invalid_value"),
    "nul-type": (b'{"id":"h1","type":"sos\\u0000","ts":"%s"}' % NOW.encode(), "invalid_value"),
    "nul-data": (b'{"id":"h1","type":"sos","ts":"%s","data":{"s":"a\\u0000"}}' % NOW.encode(), BAD),
    "huge-int": (b'{"id":"h1","type":"sos","ts":"%s","data":{"n":%d}}' % (NOW.encode(), 10**40),
                 "invalid_value"),
}
FIRMWARE_NUL = b'{"ts":"%s","firmware":"1.0\\u0000"}' % NOW.encode()


async def test_each_hostile_message_is_kept_and_the_alarm_after_it_lands(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """Broken clocks are flagged, unstorable values rejected as P1s, and every next alarm is `received`."""
    settings = gateway_settings(database_url, topic_root)
    async with (
        running_gateway(settings, clock=clock) as (gateway, changes),
        device_client(topic_root, clock=clock) as dev,
    ):
        await dev.watch_feedback()
        await dev.publish("hub-fw", Channel.HEARTBEAT, FIRMWARE_NUL)
        await dev.alarm("hub-fw", "ok")
        for device, (payload, _) in HOSTILE.items():
            await dev.publish(device, Channel.ALARM, payload)
            await dev.alarm(device, "ok")  # the next alarm, on the same connection: ordered after
        told: dict[tuple[str, str], dict[str, Any]] = {}
        accepted = [d for d, (_, kept) in HOSTILE.items() if isinstance(kept, int)]
        while len(told) < len(HOSTILE) + 1 + len(accepted):
            device, body = await dev.next_feedback()
            told[(device, body["ref"])] = body
        assert all(told[(d, "ok")]["state"] == "received" for d in [*HOSTILE, "hub-fw"]), told
        assert sorted(d for d, ref in told if ref == "h1") == sorted(accepted)

        async def rejected() -> dict[str, RejectedMessage] | None:
            async with gateway.services.sessions() as s:
                rows = (await s.exec(select(RejectedMessage))).all()
            found = {r.device_id or "?": r for r in rows}
            return found if len(found) == 1 + len(HOSTILE) - len(accepted) else None

        kept = await changes.until(rejected)
        async with gateway.services.sessions() as s:
            alerts = {a.device_id: a for a in (await s.exec(select(Alert))).all()}
            keys = select(InboundMessage.device_id, InboundMessage.message_id)
            stored = set((await s.exec(keys)).all())
            skews = (await s.exec(select(AlertEvent).where(col(AlertEvent.kind) == "clock_skew"))).all()
    assert (kept["hub-fw"].reason, kept["hub-fw"].detail) == (BAD, "firmware: contains a NUL character")
    for device, (payload, expected) in HOSTILE.items():
        alert = alerts[device]  # the hostile alarm opened it; the valid one joined it
        assert (device, "ok") in stored, device
        if isinstance(expected, int):
            assert (alert.clock_skew_seconds, alert.device_ts) == (expected, None), device
            assert (device, "h1") in stored
        else:
            assert (kept[device].reason, kept[device].payload) == (expected, payload), device
            assert "\x00" not in kept[device].detail
            assert (alert.type, alert.severity, kept[device].alert_id) == ("unknown", "P1", alert.id), device
    assert len(skews) == 3
