"""Bad input is answered, kept and counted; the gateway goes on taking alarms."""

from __future__ import annotations

from sqlmodel import select

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import Alert, AlertEvent, RejectedMessage
from devices.contract import Channel
from tests.harness import device_client, gateway_settings, running_gateway


async def test_every_bad_input_is_kept_and_the_next_alarm_still_lands(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """Not JSON, wrong schema, oversized, not UTF-8 and a wrong topic shape are all kept as rejected."""
    settings = gateway_settings(database_url, topic_root, max_payload_bytes=256)
    async with (
        running_gateway(settings, clock=clock) as (gateway, changes),
        device_client(topic_root, clock=clock) as dev,
    ):
        await dev.publish("hub-1", Channel.HEARTBEAT, b"not json at all")
        await dev.publish("hub-1", Channel.CANCEL, {"id": "c1"})  # schema: no alarm_id, no ts
        await dev.publish("hub-1", Channel.HEARTBEAT, b"{" + b" " * 300 + b"}")  # oversized
        await dev.publish("hub-1", Channel.ACTIVITY, b"\xff\xfe\x00")
        await dev.client.publish(f"{topic_root}/hub-1/extra/alarm", b"{}", qos=1)  # wrong shape
        await dev.client.publish(f"{topic_root}/hub-1", b"{}", qos=1)  # one level only
        await dev.alarm("pendant-9", "ok-1", "sos")

        async def landed() -> list[RejectedMessage] | None:
            async with gateway.services.sessions() as s:
                alert = (await s.exec(select(Alert).where(Alert.source_message_id == "ok-1"))).first()
                rejected = list((await s.exec(select(RejectedMessage))).all())
            return rejected if alert is not None and len(rejected) == 6 else None

        rejected = await changes.until(landed)
        reasons = sorted(r.reason for r in rejected)
        assert reasons == ["bad_topic", "bad_topic", "not_json", "not_utf8", "oversized", "schema"]
        by_reason = {r.reason: r for r in rejected}
        assert by_reason["not_json"].payload == b"not json at all"
        assert "alarm_id: Field required" in by_reason["schema"].detail
        assert "limit is 256" in by_reason["oversized"].detail
        registry = gateway.services.metrics.registry
        assert registry.get_sample_value("alert_gateway_mqtt_rejected_total", {"reason": "bad_topic"}) == 2


async def test_unreadable_alarm_opens_a_p1_with_the_raw_payload_on_its_timeline(
    sqlite_url: str, topic_root: str, clock: FakeClock
) -> None:
    """If in doubt, go out: garbage on a device's alarm topic still reaches the console as P1."""
    settings = gateway_settings(sqlite_url, topic_root)
    async with (
        running_gateway(settings, clock=clock) as (gateway, changes),
        device_client(topic_root, clock=clock) as dev,
    ):
        await dev.publish("pendant-7", Channel.ALARM, b"SOS!!\x00garbled")

        async def alert() -> Alert | None:
            async with gateway.services.sessions() as s:
                return (await s.exec(select(Alert))).first()

        found = await changes.until(alert)
        assert (found.type, found.severity, found.status, found.unregistered) == (
            "unknown",
            "P1",
            "open",
            True,
        )
        async with gateway.services.sessions() as s:
            events = (await s.exec(select(AlertEvent).where(AlertEvent.alert_id == found.id))).all()
            [rejected] = (await s.exec(select(RejectedMessage))).all()
        unreadable = [e for e in events if e.kind == "unreadable"]
        assert unreadable and unreadable[0].data["raw"].startswith("SOS!!")
        assert rejected.alert_id == found.id


async def test_unknown_type_is_raised_as_p1_unknown_and_keeps_the_wire_type(
    sqlite_url: str, topic_root: str, clock: FakeClock
) -> None:
    """An alarm type we do not know is never dropped: it becomes a P1 `unknown` alert."""
    settings = gateway_settings(sqlite_url, topic_root)
    async with (
        running_gateway(settings, clock=clock) as (gateway, changes),
        device_client(topic_root, clock=clock) as dev,
    ):
        await dev.alarm("sensor-3", "x1", "radon_high")

        async def alert() -> Alert | None:
            async with gateway.services.sessions() as s:
                return (await s.exec(select(Alert))).first()

        found = await changes.until(alert)
        assert (found.type, found.raw_type, found.severity) == ("unknown", "radon_high", "P1")
