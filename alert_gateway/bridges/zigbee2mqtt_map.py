"""The Zigbee2MQTT map: which Zigbee device is which contract device, and what each feature means.

Defaults are per Zigbee2MQTT `exposes` feature (https://www.zigbee2mqtt.io/guide/usage/exposes.html),
so a new sensor model needs a map entry, not code. See docs/devices/zigbee2mqtt.md.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from devices.contract import DEVICE_ID_PATTERN, AlarmType

from ..errors import ConfigError

IGNORE = "ignore"  # an action or feature value mapped to this sends nothing


class Activity(StrEnum):
    """Features that feed the inactivity watch instead of raising an alarm."""

    OCCUPANCY = "occupancy"  # true: motion
    CONTACT = "contact"  # false: door open, true: door closed (Zigbee2MQTT's `contact` is "closed")


# Binary features: true raises the alarm type (qualifier new), true → false sends a restore.
DEFAULT_ALARM_FEATURES: dict[str, AlarmType] = {
    "water_leak": AlarmType.FLOOD,
    "smoke": AlarmType.SMOKE,
    "gas": AlarmType.GAS,
    "carbon_monoxide": AlarmType.CO,
    "tamper": AlarmType.TAMPER,
    "battery_low": AlarmType.LOW_BATTERY,
    "test": AlarmType.TEST,  # a smoke detector's self-test button: logged, never escalated
}
# `action` values (buttons, pendants). An action not listed raises `unknown` (P1): if in doubt, go out.
DEFAULT_ACTIONS: dict[str, str] = {
    **{press: AlarmType.SOS.value for press in (
        "single", "double", "triple", "quadruple", "many", "hold", "long", "press", "emergency")},
    "release": IGNORE,  # follows `hold`, which has raised the alarm already
    "": IGNORE,  # Zigbee2MQTT's legacy empty action after every press
}
# Sent on as heartbeat fields (battery) or read as signs of life only.
HEARTBEAT_FEATURES = frozenset({"battery", "linkquality"})
DEFAULT_INFORMATIONAL = frozenset({
    "voltage", "last_seen", "device_temperature", "power_outage_count", "trigger_count",
    "illuminance", "illuminance_lux", "temperature", "humidity", "pressure", "smoke_density",
    "sensitivity", "selftest", "buzzer", "update", "update_available", "elapsed",
})

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class DeviceEntry(BaseModel):
    """One Zigbee device in the map."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    friendly_name: Name = Field(description="Zigbee2MQTT's friendly_name (its topic).")
    device_id: Annotated[str, StringConstraints(pattern=DEVICE_ID_PATTERN)]
    resident: str | None = Field(default=None, description="For people reading the map only.")
    model: str | None = Field(default=None, description="Zigbee model, for people reading the map.")
    actions: dict[str, str] = Field(default_factory=dict, description="action → alarm type or ignore.")
    features: dict[str, str] = Field(default_factory=dict, description="feature → alarm type or ignore.")
    ignore: list[str] = Field(default_factory=list, description="More informational keys.")

    @model_validator(mode="after")
    def _known_types(self) -> DeviceEntry:
        not_binary = sorted({"action", *Activity} & set(self.features))
        if not_binary:
            raise ValueError(f"features: {', '.join(not_binary)} cannot be mapped here "
                             "(action values go under actions; occupancy and contact are activity)")
        for key, value in {**self.actions, **self.features}.items():
            if value != IGNORE and value not in AlarmType.__members__.values():
                raise ValueError(f"{key!r}: {value!r} is not an alarm type or {IGNORE!r}")
        return self


class BridgeMap(BaseModel):
    """The whole map file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    devices: list[DeviceEntry]
    ignore_devices: list[Name] = Field(
        default_factory=list, description="Friendly names on the network that are not ours (lights ...).")

    @model_validator(mode="after")
    def _unique(self) -> BridgeMap:
        for attribute in ("friendly_name", "device_id"):
            values = [getattr(d, attribute) for d in self.devices]
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:
                raise ValueError(f"{attribute} listed twice: {', '.join(twice)}")
        return self

    def by_name(self) -> dict[str, DeviceEntry]:
        """Entries by friendly name."""
        return {d.friendly_name: d for d in self.devices}


def action_meaning(entry: DeviceEntry, action: str) -> str:
    """What an `action` value means for this device: an alarm type, `ignore`, or `unknown`."""
    return entry.actions.get(action, DEFAULT_ACTIONS.get(action, AlarmType.UNKNOWN.value))


def feature_meaning(entry: DeviceEntry, feature: str) -> str | None:
    """A binary feature's alarm type (or `ignore`); None when the map does not know it."""
    if feature in entry.features:
        return entry.features[feature]
    default = DEFAULT_ALARM_FEATURES.get(feature)
    return None if default is None else default.value


def is_informational(entry: DeviceEntry, key: str) -> bool:
    """A key that says the device is alive but asks nothing of us."""
    return key in DEFAULT_INFORMATIONAL or key in entry.ignore


def load_map(path: Path) -> BridgeMap:
    """Read and check the YAML map; any mistake is one ConfigError line naming the file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    try:
        return BridgeMap.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors()[:5])
        raise ConfigError(f"{path}: {problems}") from None
