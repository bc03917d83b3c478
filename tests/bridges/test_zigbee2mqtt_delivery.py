"""The bridge never loses or doubles an alarm: restarts, a late gateway, unknown payloads, availability."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import select

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import InboundMessage
from alert_gateway.gateway import Gateway
from alert_gateway.ingest.parse import Incoming
from devices.contract import Channel, DeviceState
from tests.harness import Changes, gateway_settings, running_gateway
from tests.supervision.helpers import QUIET

from .z2m_env import alerts_of, bridge_settings, rejected, running_bridge, seed, until, z2m_base, zigbee2mqtt

LEAK = {"water_leak": True, "battery": 90, "linkquality": 87, "voltage": 3055}


async def _inbound(gw: Gateway, device_id: str) -> list[InboundMessage]:
    async with gw.services.sessions() as s:
        return list((await s.exec(select(InboundMessage).where(InboundMessage.device_id == device_id))).all())


async def test_retained_state_replayed_after_a_bridge_restart_opens_no_second_alert(
    database_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """A restarted bridge hears the retained leak again and sends nothing: one alert, one stored alarm."""
    await seed(database_url)
    base = z2m_base()
    settings = bridge_settings(gateway_settings(database_url, topic_root), tmp_path, base)
    async with running_gateway(settings.model_copy(update={"zigbee2mqtt_map": None}), clock=clock,
                               schema=False) as (gw, changes), zigbee2mqtt(base) as z2m:
        async with running_bridge(settings, clock) as bridge:
            await z2m.state("bath/leak", LEAK)

            async def received() -> bool:
                return bridge.outbox.publishes > 0 and bridge.outbox.pending == 0

            await until(changes, received, bridge=bridge, gateway=gw)
        async with running_bridge(settings, clock) as again:
            replayed = again.messages.labels(result="unchanged")

            async def replay_seen() -> bool:
                return replayed._value.get() >= 1

            await until(changes, replay_seen, bridge=again, gateway=gw)
            assert again.outbox.publishes == 0 and again.outbox.pending == 0
        [alert] = await alerts_of(gw, "r-leak")
        assert (alert.type, alert.status) == ("flood", "open")
        assert len(await _inbound(gw, "leak-1")) == 1


async def test_outbox_resends_until_the_gateway_says_received(
    sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """A press sent while no gateway listens is re-sent with backoff and stored once the gateway is up."""
    await seed(sqlite_url)
    base = z2m_base()
    settings = bridge_settings(gateway_settings(sqlite_url, topic_root), tmp_path, base)
    changes = Changes()
    async with running_bridge(settings, clock) as bridge, zigbee2mqtt(base) as z2m:
        await z2m.state("hall/pendant", {"action": "single", "battery": 100}, retain=False)

        async def first_try_lost() -> bool:
            return bridge.outbox.publishes >= 2 and bridge.outbox.pending == 1  # the heartbeat went

        await until(changes, first_try_lost, bridge=bridge)
        async with running_gateway(settings.model_copy(update={"zigbee2mqtt_map": None}), clock=clock,
                                   schema=False) as (gw, gw_changes):
            assert await alerts_of(gw, "r-btn") == []
            await clock.advance(5)  # the contract's first retry

            async def stored() -> bool:
                return bool(await alerts_of(gw, "r-btn")) and bridge.outbox.pending == 0

            await until(gw_changes, stored, bridge=bridge, gateway=gw)
            [alert] = await alerts_of(gw, "r-btn")
            assert (alert.type, alert.device_id) == ("sos", "btn-1")
            [inbound] = await _inbound(gw, "btn-1")
            assert inbound.message_id.startswith("z2m-")


async def test_an_alarm_left_unconfirmed_by_a_stopped_bridge_is_sent_by_the_next(
    sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """The outbox file outlives the bridge: a press queued before a restart reaches a later gateway."""
    await seed(sqlite_url)
    base = z2m_base()
    settings = bridge_settings(gateway_settings(sqlite_url, topic_root), tmp_path, base)
    changes = Changes()
    async with zigbee2mqtt(base) as z2m:
        async with running_bridge(settings, clock) as bridge:
            await z2m.state("hall/pendant", {"action": "hold"}, retain=False)

            async def unconfirmed() -> bool:
                return bridge.outbox.publishes >= 1 and bridge.outbox.pending == 1

            await until(changes, unconfirmed, bridge=bridge)
        async with running_gateway(settings.model_copy(update={"zigbee2mqtt_map": None}), clock=clock,
                                   schema=False) as (gw, gw_changes), \
                running_bridge(settings, clock) as again:

            async def stored() -> bool:
                return bool(await alerts_of(gw, "r-btn")) and again.outbox.pending == 0

            # sent at once on connecting: no clock advance needed
            await until(gw_changes, stored, bridge=again, gateway=gw)
            assert [(a.type, a.device_id) for a in await alerts_of(gw, "r-btn")] == [("sos", "btn-1")]
            assert again.messages.labels(result="alarm")._value.get() == 0  # re-sent, not re-decided


async def test_unknown_payload_and_device_are_kept_as_rejected_with_their_reason(
    sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """A payload the map does not know, and an unmapped device, land in the gateway's rejected store."""
    await seed(sqlite_url)
    base = z2m_base()
    settings = bridge_settings(gateway_settings(sqlite_url, topic_root), tmp_path, base)
    async with running_gateway(settings.model_copy(update={"zigbee2mqtt_map": None}), clock=clock,
                               schema=False) as (gw, changes), \
            running_bridge(settings, clock) as bridge, zigbee2mqtt(base) as z2m:
        await z2m.state("bath/leak", {"co2": 1200}, retain=False)
        await z2m.state("garage/new-sensor", {"water_leak": True}, retain=False)
        await z2m.state("hall/lamp", {"state": "ON", "brightness": 200}, retain=False)  # ignored in the map

        async def two_kept() -> list[dict[str, str]] | None:
            rows = await rejected(gw)
            return [json.loads(r.payload) for r in rows] if len(rows) == 2 else None

        kept = sorted(await until(changes, two_kept, bridge=bridge, gateway=gw), key=lambda k: k["reason"])
        assert [(k["reason"], k["device_id"], k["friendly_name"]) for k in kept] == [
            ("unknown_device", None, "garage/new-sensor"),
            ("unknown_payload", "leak-1", "bath/leak"),
        ]
        assert "co2" in kept[1]["detail"] and json.loads(kept[1]["payload"]) == {"co2": 1200}
        assert bridge.messages.labels(result="ignored")._value.get() == 1
        assert await alerts_of(gw, "r-leak") == []


async def test_availability_offline_raises_device_offline_and_online_brings_it_back(
    sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """Zigbee2MQTT's availability (current JSON and legacy text) becomes the device's status channel."""
    await seed(sqlite_url)
    base = z2m_base()
    settings = bridge_settings(gateway_settings(sqlite_url, topic_root, **QUIET), tmp_path, base)
    heard: list[Incoming] = []
    async with running_gateway(settings.model_copy(update={"zigbee2mqtt_map": None}), clock=clock,
                               schema=False) as (gw, changes), \
            running_bridge(settings, clock) as bridge, zigbee2mqtt(base) as z2m:
        gw.services.ingest.device_listeners.append(heard.append)
        await z2m.availability("kitchen/smoke", {"state": "offline"})

        async def offline_alert() -> list[str] | None:
            return [a.type for a in await alerts_of(gw, "r-smoke")] or None

        assert await until(changes, offline_alert, bridge=bridge, gateway=gw) == ["device_offline"]
        await clock.advance(1)  # back after it went away
        await z2m.availability("kitchen/smoke", b"online")  # the legacy plain payload

        async def online() -> bool:
            return any(i.channel is Channel.STATUS and i.message is DeviceState.ONLINE for i in heard)

        await until(changes, online, bridge=bridge, gateway=gw)
        await gw.flush_heartbeats()
        assert (await gw.supervisor.check(clock.now())).came_back == ["smoke-1"]
        [alert] = await alerts_of(gw, "r-smoke")
        assert alert.status == "resolved"


async def test_serve_runs_the_bridge_when_a_map_is_set(
    sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path
) -> None:
    """With ALERT_GATEWAY_ZIGBEE2MQTT_MAP set, the gateway itself turns a button press into an sos."""
    await seed(sqlite_url)
    base = z2m_base()
    settings = bridge_settings(gateway_settings(sqlite_url, topic_root), tmp_path, base)
    async with running_gateway(settings, clock=clock, schema=False) as (gw, changes), \
            zigbee2mqtt(base) as z2m:
        # retained (the device's `retain: true` in Zigbee2MQTT): heard whenever the bridge subscribes
        await z2m.state("hall/pendant", {"action": "single", "battery": 100})

        async def sos() -> list[tuple[str, str | None]] | None:
            return [(a.type, a.device_id) for a in await alerts_of(gw, "r-btn")] or None

        assert await until(changes, sos, gateway=gw) == [("sos", "btn-1")]
