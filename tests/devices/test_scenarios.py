"""Scenario files, homes and random traffic, without a broker."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from devices.cli import build_parser, config_from_args
from devices.contract import AlarmType
from devices.simulator import (
    Action,
    Step,
    generate_homes,
    load_homes,
    load_scenario,
    parse_scenario,
    scenario_names,
)
from devices.simulator.durations import parse_duration
from devices.simulator.randomize import RandomTraffic, play_random
from devices.simulator.scenario import play

SHIPPED = {
    "pendant-at-3am",
    "fall-then-cancel",
    "smoke-at-night",
    "battery-dies",
    "pendant-goes-silent",
    "no-movement-since-evening",
}


class FakeSleep:
    """Records requested sleeps and returns at once; stops a run after `limit` calls."""

    def __init__(self, limit: int | None = None) -> None:
        self.calls: list[float] = []
        self.limit = limit

    async def __call__(self, seconds: float) -> None:
        if self.limit is not None and len(self.calls) >= self.limit:
            raise EOFError("enough")
        self.calls.append(seconds)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_scenarios_load(name: str) -> None:
    scenario = load_scenario(name)
    assert scenario.name == name and scenario.description and scenario.steps
    assert SHIPPED <= set(scenario_names())


def test_fall_then_cancel_cancels_within_20_seconds() -> None:
    scenario = load_scenario("fall-then-cancel")
    alarm, cancel = scenario.steps
    assert (alarm.action, alarm.value, cancel.action, cancel.value) == (
        Action.ALARM,
        "fall",
        Action.CANCEL,
        "last",
    )
    assert 5 <= cancel.at - alarm.at <= 20


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90.0), ("90s", 90.0), ("5m", 300.0), ("1h30m", 5400.0), ("250ms", 0.25), ("2.5", 2.5)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5x", "m5", "-1", True])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "step",
    [
        {"at": 0, "alarm": "sos"},  # no device
        {"at": 0, "device": "p-1"},  # no action
        {"at": 0, "device": "p-1", "alarm": "sos", "cancel": "last"},  # two actions
        {"at": 0, "device": "p-1", "battery": 150},
        {"at": 0, "device": "p-1", "silence": "yes"},
        {"at": 0, "device": "p-1", "activity": "dancing"},
    ],
)
def test_bad_steps_are_rejected(step: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        parse_scenario({"steps": [step]})


def test_unknown_scenario_names_the_shipped_ones() -> None:
    with pytest.raises(ValueError, match="pendant-at-3am"):
        load_scenario("no-such-scenario")


def test_scenario_devices_get_kinds_from_their_ids() -> None:
    scenario = parse_scenario(
        {
            "steps": [
                {"at": 0, "device": "smoke-0003", "alarm": "smoke"},
                {"device": "x1", "heartbeat": True},
            ]
        }
    )
    kinds = {d.id: d.kind for d in scenario.device_specs()}
    assert kinds == {"x1": "pendant", "smoke-0003": "smoke_detector"}
    assert [s.device for s in scenario.steps] == ["smoke-0003", "x1"]  # stable at equal times


async def test_play_scales_time_by_speed_and_waits_until_the_end() -> None:
    scenario = parse_scenario(
        {
            "duration": "60s",
            "steps": [
                {"at": "20s", "device": "b", "cancel": "last"},
                {"at": 0, "device": "a", "alarm": "sos"},
                {"at": "20s", "device": "c", "alarm": "fall"},
            ],
        }
    )
    done: list[str] = []
    sleep = FakeSleep()

    async def perform(step: Step) -> None:
        done.append(step.device)

    await play(scenario.steps, perform, speed=10, sleep=sleep, end=scenario.duration)
    assert done == ["a", "b", "c"]
    assert sleep.calls == [2.0, 4.0]


def test_generate_homes_is_seeded_and_always_has_a_pendant() -> None:
    homes = generate_homes(50, seed=7)
    assert homes == generate_homes(50, seed=7)
    assert all(h.devices[0].kind == "pendant" for h in homes)
    assert homes[0].devices[0].id == "pendant-0001"
    kinds = {d.kind for h in homes for d in h.devices}
    assert kinds == {"pendant", "fall_detector", "smoke_detector", "motion_sensor", "door_sensor"}
    ids = [d.id for h in homes for d in h.devices]
    assert len(ids) == len(set(ids))


def test_load_homes_reads_the_importer_format(tmp_path: Path) -> None:
    path = tmp_path / "residents.yaml"
    path.write_text(
        "residents:\n"
        "  - id: r-1\n"
        "    name: 山田 花子\n"
        "    devices:\n"
        "      - {id: pendant-9, kind: pendant, heartbeat_interval: 300, location: 首}\n"
        "      - {id: motion-9, kind: motion_sensor, heartbeat_interval: 60}\n"
        "    contacts: []\n",
        encoding="utf-8",
    )
    (home,) = load_homes(path)
    assert home.id == "r-1"
    assert [(d.id, d.kind, d.heartbeat_interval) for d in home.devices] == [
        ("pendant-9", "pendant", 300.0),
        ("motion-9", "motion_sensor", 60.0),
    ]
    assert home.devices[1].reports_activity


async def test_random_traffic_picks_devices_that_raise_the_type() -> None:
    homes = generate_homes(20, seed=1)
    traffic = RandomTraffic(rates={AlarmType.SOS: 1.0, AlarmType.SMOKE: 1.0}, cancel_share=0.0)
    steps: list[Step] = []

    async def perform(step: Step) -> None:
        steps.append(step)

    with pytest.raises(EOFError):
        await play_random(homes, traffic, perform, sleep=FakeSleep(200), rng=random.Random(3))
    assert len(steps) >= 100  # homes without a smoke detector raise no smoke alarm
    pairs = {(s.value, s.device.split("-")[0]) for s in steps}
    assert pairs == {("sos", "pendant"), ("smoke", "smoke")}


def test_cli_arguments_build_a_config() -> None:
    args = build_parser().parse_args(
        ["--generate", "5", "--random", "--rate", "sos=0.5", "--speed", "60", "--topic-root", "t/x"]
    )
    config = config_from_args(args)
    assert (config.generate, config.speed, config.topic_root) == (5, 60.0, "t/x")
    assert config.random_traffic is not None
    assert config.random_traffic.rates == {AlarmType.SOS: 0.5}
