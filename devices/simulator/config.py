"""SimulatorConfig: everything one run needs, with the homes it resolves to."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from devices.contract import TOPIC_ROOT

from .homes import DeviceSpec, Home, generate_homes, load_homes
from .randomize import RandomTraffic
from .scenario import Scenario, Sleep, load_scenario

Mode = Literal["auto", "per-device", "multiplexed"]


class SimulatorError(RuntimeError):
    """The simulation could not run (the broker refused or never answered)."""


@dataclass(slots=True)
class SimulatorConfig:
    """Homes, traffic, broker and timing of one simulation run."""

    mqtt_url: str = "mqtt://127.0.0.1:1883"
    topic_root: str = TOPIC_ROOT
    # homes: explicit, from a residents YAML file, generated, plus any device a scenario names
    homes: list[Home] = field(default_factory=list)
    homes_file: Path | None = None
    generate: int | None = None
    seed: int | None = 0
    # traffic: a scripted scenario (object, shipped name or file path) and/or random alarms
    scenario: Scenario | str | Path | None = None
    random_traffic: RandomTraffic | None = None
    # time: scenario, heartbeat and activity time run `speed` times faster than real time
    speed: float = 1.0
    duration: float | None = None  # real seconds; None: scenario end + settle, or until stop
    settle: float = 10.0  # real seconds after the last step to wait for outstanding `received`
    sleep: Sleep = asyncio.sleep  # the scenario clock; tests inject one that returns at once
    # connections
    mode: Mode = "auto"  # auto: one connection per device up to multiplex_above devices
    multiplex_above: int = 200
    connections: int = 1  # multiplexed mode: connections to spread the devices over
    credentials: dict[str, str] = field(default_factory=dict)  # device id → MQTT password
    mqtt_username: str | None = None  # multiplexed mode only: an account the ACL lets publish all
    mqtt_password: str | None = None
    connect_timeout: float = 30.0
    connect_batch: int = 100  # per-device mode: devices connecting at once
    # device behaviour
    heartbeat_interval: float | None = None  # simulated seconds; None: each device's own
    heartbeat_qos: int = 0
    battery_drain: float = 0.02  # percent per heartbeat
    activity_per_hour: float = 6.0  # per motion/door sensor, simulated time
    retry_initial: float = 5.0  # real seconds before an unacknowledged alarm is re-published
    retry_max: float = 60.0
    firmware: str = "sim-1.0"
    timezone: str = "Asia/Tokyo"

    def load_scenario(self) -> Scenario | None:
        """The scenario object, loading a name or path."""
        if self.scenario is None or isinstance(self.scenario, Scenario):
            return self.scenario
        return load_scenario(self.scenario)

    def resolve_homes(self, scenario: Scenario | None) -> list[Home]:
        """All homes; scenario devices that no home has become one-device homes."""
        if self.speed <= 0:
            raise ValueError("speed must be positive")
        homes = list(self.homes)
        if self.homes_file is not None:
            homes += load_homes(self.homes_file)
        if self.generate:
            homes += generate_homes(self.generate, self.seed)
        known = {d.id for h in homes for d in h.devices}
        extra: list[DeviceSpec] = [
            d for d in (scenario.device_specs() if scenario else []) if d.id not in known
        ]
        homes += [Home(f"home-{d.id}", [d]) for d in extra]
        if self.heartbeat_interval is not None:
            interval = self.heartbeat_interval
            homes = [
                Home(h.id, [DeviceSpec(d.id, d.kind, interval) for d in h.devices]) for h in homes
            ]
        return homes

    def use_multiplexed(self, devices: int) -> bool:
        """Whether to share connections between devices."""
        if self.mode == "auto":
            return devices > self.multiplex_above
        return self.mode == "multiplexed"
