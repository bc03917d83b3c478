"""Scripted scenarios: a YAML list of timed steps for named devices, played at a speed factor."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from devices.contract import ActivityKind

from .durations import parse_duration
from .homes import DeviceSpec, guess_kind

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"

Sleep = Callable[[float], Awaitable[object]]


class Action(StrEnum):
    """What a step makes the device do; the step's YAML key."""

    ALARM = "alarm"  # alarm: sos            publish an alarm, repeat it until `received`
    CANCEL = "cancel"  # cancel: last         cancel the device's last alarm (or an alarm id)
    SILENCE = "silence"  # silence: true      stop heartbeats, drop the connection (last will)
    BATTERY = "battery"  # battery: 5         set the battery level, send a heartbeat now
    ACTIVITY = "activity"  # activity: motion  one activity event (motion, door_open, door_close)
    QUIET = "quiet"  # quiet: true            no more automatic activity events
    HEARTBEAT = "heartbeat"  # heartbeat: true  one heartbeat now


@dataclass(frozen=True, slots=True)
class Step:
    """One timed action of one device."""

    at: float  # seconds of scenario time from the start
    device: str
    action: Action
    value: str | int | None = None
    id: str | None = None  # an explicit message id (alarm, cancel)
    qualifier: str | None = None  # alarm qualifier: new, restore, repeat
    data: dict[str, Any] | None = None  # alarm sensor readings


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named, described list of steps."""

    name: str
    description: str = ""
    steps: tuple[Step, ...] = ()
    devices: tuple[DeviceSpec, ...] = field(default=())
    duration: float | None = None  # scenario seconds to keep running after the start

    def device_specs(self) -> list[DeviceSpec]:
        """The declared devices plus every other device a step names (kind guessed from its id)."""
        specs = {d.id: d for d in self.devices}
        for step in self.steps:
            specs.setdefault(step.device, DeviceSpec(step.device, guess_kind(step.device)))
        return list(specs.values())

    @property
    def length(self) -> float:
        """Scenario seconds until the last step (or the declared duration, if longer)."""
        last = max((s.at for s in self.steps), default=0.0)
        return max(last, self.duration or 0.0)


def scenario_names() -> list[str]:
    """The scenarios shipped in devices/scenarios/."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A shipped scenario by name, or a scenario file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ValueError(f"no scenario {name_or_path!r} (shipped: {', '.join(scenario_names())})")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a scenario is a mapping with name and steps")
    return parse_scenario(data, default_name=path.stem)


def parse_scenario(data: dict[str, Any], *, default_name: str = "scenario") -> Scenario:
    """A Scenario from its YAML mapping; ValueError names the bad step."""
    steps = [_step(raw, n) for n, raw in enumerate(data.get("steps") or [], start=1)]
    devices = tuple(_declared_device(raw) for raw in data.get("devices") or [])
    duration = data.get("duration")
    return Scenario(
        name=str(data.get("name", default_name)),
        description=str(data.get("description", "")).strip(),
        # stable sort: steps at the same time keep their file order
        steps=tuple(sorted(steps, key=lambda s: s.at)),
        devices=devices,
        duration=parse_duration(duration) if duration is not None else None,
    )


def _declared_device(raw: dict[str, Any]) -> DeviceSpec:
    """A `devices:` entry: {id, kind, heartbeat_interval}."""
    device_id = str(raw["id"])
    interval = raw.get("heartbeat_interval")
    spec = DeviceSpec(device_id, str(raw.get("kind") or guess_kind(device_id)))
    if interval is not None:
        spec = DeviceSpec(spec.id, spec.kind, parse_duration(interval))
    return spec


def _step(raw: Any, number: int) -> Step:
    """One `steps:` entry."""
    if not isinstance(raw, dict) or "device" not in raw:
        raise ValueError(f"step {number}: needs at least `device` and one action")
    actions = [a for a in Action if a.value in raw]
    if len(actions) != 1:
        raise ValueError(f"step {number}: exactly one of {', '.join(Action)} is needed")
    action = actions[0]
    value = raw[action.value]
    if action is Action.BATTERY and not (isinstance(value, int) and 0 <= value <= 100):
        raise ValueError(f"step {number}: battery is a percent 0-100")
    if action is Action.ACTIVITY:
        value = ActivityKind(value if isinstance(value, str) else "motion").value
    if action in (Action.SILENCE, Action.QUIET, Action.HEARTBEAT):
        if value is not True:
            raise ValueError(f"step {number}: write `{action.value}: true`")
        value = None
    if action in (Action.ALARM, Action.CANCEL):
        value = str(value)
    return Step(
        at=parse_duration(raw.get("at", 0)),
        device=str(raw["device"]),
        action=action,
        value=value,
        id=str(raw["id"]) if "id" in raw else None,
        qualifier=raw.get("qualifier"),
        data=raw.get("data"),
    )


async def play(
    steps: tuple[Step, ...] | list[Step],
    perform: Callable[[Step], Awaitable[None]],
    *,
    speed: float = 1.0,
    sleep: Sleep = asyncio.sleep,
    end: float | None = None,
) -> None:
    """Run each step at its time divided by speed, then wait until `end`; `sleep` is injectable."""
    elapsed = 0.0
    for step in sorted(steps, key=lambda s: s.at):
        if step.at > elapsed:
            await sleep((step.at - elapsed) / speed)
            elapsed = step.at
        await perform(step)
    if end is not None and end > elapsed:
        await sleep((end - elapsed) / speed)
