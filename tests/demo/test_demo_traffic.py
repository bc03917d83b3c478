"""The demo's random traffic does what docs/demo.md promises: about one alarm every three minutes."""

from __future__ import annotations

import dataclasses
import random

import pytest

from alert_gateway.demo.data import DEMO_RESIDENTS
from alert_gateway.demo.traffic import resolve_traffic
from devices.contract import AlarmType
from devices.simulator import load_homes
from devices.simulator.randomize import alarm_sources, play_random
from devices.simulator.scenario import Action, Step

HOURS = 10


class SimulatedHours:
    """A sleep that only advances a simulated clock, and ends the run after `HOURS`."""

    def __init__(self) -> None:
        self.now = 0.0

    async def __call__(self, seconds: float) -> None:
        self.now += seconds
        if self.now > HOURS * 3600:
            raise EOFError("simulated hours are up")


def test_the_rates_add_up_to_twenty_alarms_an_hour() -> None:
    """Over the six demo homes, the alarms (test signals aside) expected per hour are 20."""
    _, traffic = resolve_traffic("random", DEMO_RESIDENTS)
    sources, cumulative = alarm_sources(load_homes(DEMO_RESIDENTS), traffic)
    test_rate = sum(1 for _, alarm in sources if alarm is AlarmType.TEST) * 0.5
    assert cumulative[-1] * 3600 - test_rate == pytest.approx(20.0)


async def test_ten_simulated_hours_bring_about_one_alarm_every_three_minutes() -> None:
    """Played on a simulated clock (no sleeping), ten hours bring about 200 alarms."""
    _, traffic = resolve_traffic("random", DEMO_RESIDENTS)
    traffic = dataclasses.replace(traffic, cancel_share=0.0)  # cancels are not alarms
    alarms: list[Step] = []

    async def perform(step: Step) -> None:
        if step.action is Action.ALARM and step.value != AlarmType.TEST.value:
            alarms.append(step)

    clock = SimulatedHours()
    with pytest.raises(EOFError):
        await play_random(load_homes(DEMO_RESIDENTS), traffic, perform, sleep=clock,
                          rng=random.Random(14))
    minutes_between = HOURS * 60 / len(alarms)
    assert 2.6 < minutes_between < 3.4, (len(alarms), minutes_between)
    assert {s.value for s in alarms} == {"sos", "fall", "door_exit", "smoke"}
