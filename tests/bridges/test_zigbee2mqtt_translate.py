"""What one Zigbee2MQTT message becomes, decided without I/O (zigbee2mqtt_translate.translate)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alert_gateway.bridges.zigbee2mqtt_map import DeviceEntry, load_map
from alert_gateway.bridges.zigbee2mqtt_translate import (
    ContractItem,
    Decision,
    Rejected,
    TopicState,
    split_topic,
    translate,
)
from alert_gateway.errors import ConfigError
from devices.contract import AlarmMessage, Channel

NOW = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
BUTTON = DeviceEntry(friendly_name="hall/pendant", device_id="btn-1", model="WXKG11LM")


def _run(payload: dict[str, Any] | bytes, *, entry: DeviceEntry | None = BUTTON,
         state: TopicState | None = None, retained: bool = False, availability: bool = False) -> Decision:
    raw = json.dumps(payload).encode() if isinstance(payload, dict) else payload
    return translate(entry, "hall/pendant", raw, availability=availability, retained=retained,
                     state=state or TopicState(), instance="i1", now=NOW)


def _alarms(decision: Decision) -> list[AlarmMessage]:
    return [AlarmMessage.model_validate(i.payload) for i in decision.items
            if isinstance(i, ContractItem) and i.channel is Channel.ALARM]


def test_button_presses_are_sos_each_with_its_own_stable_id() -> None:
    """Two live presses are two sos alarms with different ids; the same history gives the same ids."""
    first = _run({"action": "single", "battery": 97, "linkquality": 120})
    second = _run({"action": "single", "battery": 97}, state=first.state)
    [a], [b] = _alarms(first), _alarms(second)
    assert (a.type, a.battery, a.qualifier) == ("sos", 97, "new") and a.id != b.id
    assert _alarms(_run({"action": "single", "battery": 97, "linkquality": 120}))[0].id == a.id


def test_release_is_ignored_and_an_action_not_in_the_map_is_raised_as_unknown() -> None:
    """`release` follows a hold and sends no alarm; an action nobody mapped is a P1 `unknown`, not dropped."""
    assert _alarms(_run({"action": "release"})) == []
    [alarm] = _alarms(_run({"action": "shake"}))
    assert (alarm.type, alarm.data) == ("unknown", {"action": "shake"})


def test_per_device_actions_override_the_defaults() -> None:
    """A device whose double press means "test" sends a test alarm for it."""
    entry = BUTTON.model_copy(update={"actions": {"double": "test"}})
    assert [a.type for a in _alarms(_run({"action": "double"}, entry=entry))] == ["test"]


def test_leak_then_dry_sends_new_then_restore_and_repeats_send_nothing() -> None:
    """water_leak true → flood; true again → nothing; false → flood restore; false again → nothing."""
    leak = DeviceEntry(friendly_name="bath/leak", device_id="leak-1")
    wet = _run({"water_leak": True}, entry=leak)
    again = _run({"water_leak": True, "battery": 80}, entry=leak, state=wet.state)
    dry = _run({"water_leak": False}, entry=leak, state=again.state)
    still = _run({"water_leak": False}, entry=leak, state=dry.state)
    assert [(a.type, a.qualifier) for a in _alarms(wet) + _alarms(again) + _alarms(dry) + _alarms(still)] == [
        ("flood", "new"), ("flood", "restore")]


def test_a_retained_replay_of_the_same_bytes_sends_nothing_at_all() -> None:
    """After a restart the broker replays what the bridge already handled: no alarm, no heartbeat."""
    first = _run({"action": "single"})
    assert _run({"action": "single"}, state=first.state, retained=True).items == []


def test_state_learnt_from_a_replay_is_not_activity() -> None:
    """A retained door state seen for the first time is learnt, not reported as somebody moving."""
    door = DeviceEntry(friendly_name="front/door", device_id="door-1")
    learnt = _run({"contact": True}, entry=door, retained=True)
    assert learnt.items == []
    opened = _run({"contact": False}, entry=door, state=learnt.state)
    kinds = [i.payload["kind"] for i in opened.items  # type: ignore[index, union-attr]
             if isinstance(i, ContractItem) and i.channel is Channel.ACTIVITY]
    assert kinds == ["door_open"]


@pytest.mark.parametrize("payload", [b'{"state":"offline"}', b"offline"])
def test_availability_in_both_shapes_becomes_a_retained_status(payload: bytes) -> None:
    """Current JSON and legacy plain availability both become the retained `offline` status."""
    [item] = _run(payload, availability=True).items
    assert item == ContractItem("btn-1", Channel.STATUS, "offline", retain=True)


@pytest.mark.parametrize(("payload", "reason"), [
    ({"co2": 1200}, "unknown_payload"),
    (b"not json", "not_json"),
    ({"water_leak": "yes"}, "bad_value"),
])
def test_what_the_map_cannot_read_is_rejected_with_its_reason(payload: dict[str, Any] | bytes,
                                                              reason: str) -> None:
    """Unknown keys, broken JSON and wrong value types come back as a rejection, never as silence."""
    assert [i.reason for i in _run(payload).items if isinstance(i, Rejected)] == [reason]


def test_bridge_topics_and_commands_are_not_device_messages() -> None:
    """Zigbee2MQTT's own bridge topics and /set commands are skipped; slashes in names are kept."""
    assert split_topic("z2m", "z2m/bridge/state") is None
    assert split_topic("z2m", "z2m/hall/lamp/set") is None
    assert split_topic("z2m", "z2m/hall/pendant") == ("hall/pendant", False)
    assert split_topic("z2m", "z2m/hall/pendant/availability") == ("hall/pendant", True)


def test_a_map_with_a_mistake_is_one_config_error_naming_the_file(tmp_path: Path) -> None:
    """A wrong alarm type, a device listed twice or a feature that is not binary is refused at load."""
    path = tmp_path / "map.yaml"
    path.write_text("devices:\n  - {friendly_name: a, device_id: d-1, actions: {single: panic}}\n")
    with pytest.raises(ConfigError, match=r"map\.yaml: .*'panic' is not an alarm type"):
        load_map(path)
    path.write_text("devices:\n  - {friendly_name: a, device_id: d-1}\n"
                    "  - {friendly_name: b, device_id: d-1}\n")
    with pytest.raises(ConfigError, match="device_id listed twice: d-1"):
        load_map(path)
    path.write_text("devices: [{friendly_name: a, device_id: d-1, features: {contact: door_exit}}]\n")
    with pytest.raises(ConfigError, match="contact cannot be mapped here"):
        load_map(path)


def test_the_example_map_loads() -> None:
    """config/examples/zigbee2mqtt-map.yaml, shown in the docs, is a valid map."""
    example = load_map(Path(__file__).parents[2] / "config/examples/zigbee2mqtt-map.yaml")
    assert len(example.devices) == 5
