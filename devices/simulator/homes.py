"""Homes and their devices: read from the importer's residents YAML or generated from a seed."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devices.contract import AlarmType

from .durations import parse_duration

DEFAULT_HEARTBEAT_SECONDS = 300.0  # the gateway's Device.heartbeat_interval default

# Id prefixes of generated devices, also used to guess the kind of a device a scenario names.
KIND_PREFIXES: dict[str, str] = {
    "pendant": "pendant",
    "fall_detector": "fall",
    "smoke_detector": "smoke",
    "motion_sensor": "motion",
    "door_sensor": "door",
    "base_unit": "base",
    "co_detector": "co",
    "gas_detector": "gas",
    "heat_detector": "heat",
}

# Which alarm types a device kind raises; random mode picks a device of the home by this.
KIND_ALARMS: dict[str, frozenset[AlarmType]] = {
    "pendant": frozenset({AlarmType.SOS, AlarmType.TEST, AlarmType.CHECKIN, AlarmType.CONSULT}),
    "base_unit": frozenset({AlarmType.SOS, AlarmType.POWER_FAILURE, AlarmType.CONSULT}),
    "fall_detector": frozenset({AlarmType.FALL}),
    "smoke_detector": frozenset({AlarmType.SMOKE, AlarmType.HEAT}),
    "heat_detector": frozenset({AlarmType.HEAT}),
    "co_detector": frozenset({AlarmType.CO}),
    "gas_detector": frozenset({AlarmType.GAS}),
    "door_sensor": frozenset({AlarmType.DOOR_EXIT}),
    "motion_sensor": frozenset({AlarmType.INACTIVITY}),
}

ACTIVITY_KINDS = frozenset({"motion_sensor", "door_sensor"})
OPTIONAL_KINDS = ("fall_detector", "smoke_detector", "motion_sensor", "door_sensor")


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One simulated device."""

    id: str
    kind: str = "pendant"
    heartbeat_interval: float = DEFAULT_HEARTBEAT_SECONDS  # seconds of simulated time

    @property
    def reports_activity(self) -> bool:
        """Motion and door sensors publish activity events."""
        return self.kind in ACTIVITY_KINDS


@dataclass(slots=True)
class Home:
    """One resident's home."""

    id: str
    devices: list[DeviceSpec] = field(default_factory=list)

    def device_for(self, alarm: AlarmType) -> DeviceSpec | None:
        """The device of this home that would raise this alarm type."""
        for device in self.devices:
            if alarm in KIND_ALARMS.get(device.kind, frozenset()):
                return device
        return None


def guess_kind(device_id: str) -> str:
    """The kind a device id suggests (`fall-0002` → fall_detector); pendant when unsure."""
    head = device_id.split("-", 1)[0].lower()
    for kind, prefix in KIND_PREFIXES.items():
        if head in (prefix, kind):
            return kind
    return "pendant"


def generate_homes(n: int, seed: int | None = 0) -> list[Home]:
    """n homes, each with a pendant and a seeded random subset of the optional sensors."""
    rng = random.Random(seed)
    width = max(4, len(str(n)))
    homes = []
    for number in range(1, n + 1):
        suffix = f"{number:0{width}d}"
        kinds = ["pendant"] + [k for k in OPTIONAL_KINDS if rng.random() < 0.5]
        devices = [DeviceSpec(f"{KIND_PREFIXES[k]}-{suffix}", k) for k in kinds]
        homes.append(Home(f"home-{suffix}", devices))
    return homes


def load_homes(path: Path) -> list[Home]:
    """Homes from a residents YAML file (`residents: [{id, devices: [{id, kind, ...}]}]`)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    residents = data.get("residents", []) if isinstance(data, dict) else data
    if not isinstance(residents, list):
        raise ValueError(f"{path}: expected a list of residents")
    homes = []
    for index, resident in enumerate(residents, start=1):
        if not isinstance(resident, dict):
            raise ValueError(f"{path}: resident #{index} is not a mapping")
        devices = [_device(raw, path) for raw in resident.get("devices") or []]
        homes.append(Home(str(resident.get("id", f"home-{index:04d}")), devices))
    return homes


def _device(raw: Any, path: Path) -> DeviceSpec:
    """One device entry of the residents file."""
    if isinstance(raw, str):
        return DeviceSpec(raw, guess_kind(raw))
    if not isinstance(raw, dict) or "id" not in raw:
        raise ValueError(f"{path}: a device needs an id: {raw!r}")
    device_id = str(raw["id"])
    interval = raw.get("heartbeat_interval")
    return DeviceSpec(
        device_id,
        str(raw.get("kind") or guess_kind(device_id)),
        parse_duration(interval) if interval is not None else DEFAULT_HEARTBEAT_SECONDS,
    )
