"""One Zigbee2MQTT message + what the bridge last saw on its topic → contract messages (pure).

Only transitions are sent. A retained message the bridge has already handled (same bytes on the
same topic) is the broker replaying old news after a restart: it sends nothing. Alarm ids are
derived from the source (bridge instance, friendly name, feature, value, transition number), so a
crash between deciding and publishing re-sends the same id, which the gateway de-duplicates.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from devices.contract import ActivityKind, Channel, DeviceState, Qualifier

from .zigbee2mqtt_map import (
    HEARTBEAT_FEATURES,
    IGNORE,
    Activity,
    DeviceEntry,
    action_meaning,
    feature_meaning,
    is_informational,
)

AVAILABILITY = "availability"
ID_HASH_CHARS = 24  # 96 bits: collisions within one device are not a concern


@dataclass(frozen=True, slots=True)
class TopicState:
    """What the bridge last handled on one Zigbee2MQTT topic (kept in the outbox file)."""

    fingerprint: str | None = None
    values: dict[str, Any] = field(default_factory=dict)  # feature → last value
    counts: dict[str, int] = field(default_factory=dict)  # feature → transitions sent


@dataclass(frozen=True, slots=True)
class ContractItem:
    """One message for the gateway, on a device's contract channel."""

    device_id: str
    channel: Channel
    payload: dict[str, Any] | str
    message_id: str | None = None  # alarms: re-sent until the gateway says `received`
    retain: bool = False


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message the map cannot turn into anything, kept with its reason."""

    reason: str
    detail: str
    device_id: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What to send, and the topic's state after this message."""

    items: list[ContractItem | Rejected]
    state: TopicState


def split_topic(base: str, topic: str) -> tuple[str, bool] | None:
    """(friendly name, is availability) for a device topic; None for Zigbee2MQTT's own or commands."""
    if not topic.startswith(base + "/"):
        return None
    rest = topic[len(base) + 1:]
    if rest.startswith("bridge/") or rest == "bridge":
        return None  # Zigbee2MQTT's own state, logs and responses
    if rest.endswith(("/set", "/get")) or "/set/" in rest:
        return None  # commands others send to devices
    if rest.endswith("/" + AVAILABILITY):
        return rest[: -len(AVAILABILITY) - 1], True
    return rest, False


def fingerprint(payload: bytes) -> str:
    """Identity of a payload, to recognise a retained replay."""
    return hashlib.sha256(payload).hexdigest()[:32]


def translate(
    entry: DeviceEntry | None,
    friendly_name: str,
    payload: bytes,
    *,
    availability: bool,
    retained: bool,
    state: TopicState,
    instance: str,
    now: datetime,
) -> Decision:
    """Decide what one message from Zigbee2MQTT becomes."""
    seen = fingerprint(payload)
    if retained and seen == state.fingerprint:
        return Decision([], state)
    state = replace(state, fingerprint=seen)
    if entry is None:
        unknown = Rejected("unknown_device", f"friendly_name {friendly_name!r} is not in the map")
        return Decision([unknown], state)
    if availability:
        return _availability(entry, payload, state)
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        body = None
    if not isinstance(body, dict):
        return Decision([Rejected("not_json", "payload is not a JSON object", entry.device_id)], state)
    return _State(entry, instance, now, retained, state).read(body)


def _availability(entry: DeviceEntry, payload: bytes, state: TopicState) -> Decision:
    text = payload.decode("utf-8", "replace").strip()
    try:
        body = json.loads(text)
        value = body.get("state") if isinstance(body, dict) else body  # current / legacy shapes
    except ValueError:
        value = text
    if value not in (DeviceState.ONLINE.value, DeviceState.OFFLINE.value):
        return Decision([Rejected("bad_availability", "availability must be online or offline",
                                  entry.device_id)], state)
    if state.values.get(AVAILABILITY) == value:
        return Decision([], state)
    item = ContractItem(entry.device_id, Channel.STATUS, str(value), retain=True)
    return Decision([item], replace(state, values={**state.values, AVAILABILITY: value}))


class _State:
    """Reads one state message key by key."""

    def __init__(self, entry: DeviceEntry, instance: str, now: datetime, retained: bool,
                 state: TopicState) -> None:
        self.entry, self.instance, self.now, self.retained = entry, instance, now, retained
        self.values = dict(state.values)
        self.counts = dict(state.counts)
        self.fingerprint = state.fingerprint
        self.items: list[ContractItem | Rejected] = []
        self.battery: int | None = None

    def read(self, body: dict[str, Any]) -> Decision:
        battery = body.get("battery")
        if isinstance(battery, int | float) and not isinstance(battery, bool) and 0 <= battery <= 100:
            self.battery = round(battery)  # carried on the alarms and the heartbeat of this message
        known = False
        for key, value in body.items():
            known |= self._key(key, value)
        if not known:
            keys = ", ".join(sorted(body)) or "(none)"
            self._reject("unknown_payload", f"no key the map knows: {keys}")
        elif not self.retained:  # a live message is a sign of life; a replayed one is not
            heartbeat: dict[str, Any] = {"ts": self.now.isoformat()}
            if self.battery is not None:
                heartbeat["battery"] = self.battery
            if isinstance(body.get("linkquality"), int):
                heartbeat["linkquality"] = body["linkquality"]  # an extra field: accepted, not stored yet
            self.items.append(ContractItem(self.entry.device_id, Channel.HEARTBEAT, heartbeat))
        return Decision(self.items, TopicState(self.fingerprint, self.values, self.counts))

    def _key(self, key: str, value: Any) -> bool:
        """Handle one key; False when the map does not know it."""
        if key == "action":
            self._action(value)
        elif key in (Activity.OCCUPANCY, Activity.CONTACT):
            self._activity(key, value)
        elif (meaning := feature_meaning(self.entry, key)) is not None:
            self._binary(key, value, meaning)
        elif key not in HEARTBEAT_FEATURES:  # battery and linkquality go on the heartbeat
            return is_informational(self.entry, key)
        return True

    def _action(self, value: Any) -> None:
        if value is None:
            return  # Zigbee2MQTT clears the action after publishing it
        if not isinstance(value, str):
            self._reject("bad_value", f"action: expected text, got {value!r}")
            return
        meaning = action_meaning(self.entry, value)
        if meaning != IGNORE:
            # Every live press is a new event; a replayed one was caught by its fingerprint.
            self._alarm("action", value, meaning, Qualifier.NEW, {"action": value})

    def _binary(self, key: str, value: Any, meaning: str) -> None:
        if not isinstance(value, bool):
            self._reject("bad_value", f"{key}: expected true or false, got {value!r}")
            return
        before = self.values.get(key)
        self.values[key] = value
        if value == before or meaning == IGNORE:
            return
        if value:
            self._alarm(key, value, meaning, Qualifier.NEW, {key: value})
        elif before is True:
            self._alarm(key, value, meaning, Qualifier.RESTORE, {key: value})

    def _activity(self, key: str, value: Any) -> None:
        if not isinstance(value, bool):
            self._reject("bad_value", f"{key}: expected true or false, got {value!r}")
            return
        before = self.values.get(key)
        self.values[key] = value
        if value == before or (before is None and self.retained):
            return  # unchanged, or state learnt from a replay: nobody moved just now
        if key == Activity.OCCUPANCY:
            kind = ActivityKind.MOTION if value else None
        else:
            kind = ActivityKind.DOOR_CLOSE if value else ActivityKind.DOOR_OPEN
        if kind is not None:
            payload = {"ts": self.now.isoformat(), "kind": kind.value}
            self.items.append(ContractItem(self.entry.device_id, Channel.ACTIVITY, payload))

    def _alarm(self, feature: str, value: Any, alarm_type: str, qualifier: Qualifier,
               data: dict[str, Any]) -> None:
        number = self.counts.get(feature, 0) + 1
        self.counts[feature] = number
        source = f"{self.instance}|{self.entry.friendly_name}|{feature}|{value}|{number}"
        message_id = "z2m-" + hashlib.sha256(source.encode()).hexdigest()[:ID_HASH_CHARS]
        payload: dict[str, Any] = {"id": message_id, "type": alarm_type, "ts": self.now.isoformat(),
                                   "qualifier": qualifier.value, "data": data}
        if self.battery is not None:
            payload["battery"] = self.battery
        self.items.append(ContractItem(self.entry.device_id, Channel.ALARM, payload, message_id))

    def _reject(self, reason: str, detail: str) -> None:
        self.items.append(Rejected(reason, detail, self.entry.device_id))
