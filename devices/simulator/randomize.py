"""Random traffic: alarms as Poisson arrivals at per-type rates (alarms per home per hour)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from devices.contract import AlarmType

from .homes import Home
from .scenario import Action, Sleep, Step

# Roughly a busy service's mix, raised so a demo shows something within minutes at --speed 60.
DEFAULT_RATES: dict[AlarmType, float] = {
    AlarmType.SOS: 0.05,
    AlarmType.FALL: 0.02,
    AlarmType.SMOKE: 0.002,
    AlarmType.DOOR_EXIT: 0.005,
    AlarmType.TEST: 0.01,
}
CANCELLABLE = frozenset({AlarmType.SOS, AlarmType.FALL})  # fire types are never cancelled


@dataclass(frozen=True, slots=True)
class RandomTraffic:
    """Alarms per home per simulated hour, by type, and how often a resident cancels."""

    rates: dict[AlarmType, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    cancel_share: float = 0.3  # accidental presses are common (DOMAIN.md: false alarms)
    cancel_after: float = 10.0  # seconds after the alarm: ≥5 s and inside the grace window

    @classmethod
    def parse_rates(cls, items: list[str]) -> dict[AlarmType, float]:
        """`["sos=0.5", "fall=0.1"]` → rates; ValueError on a bad item."""
        rates = {}
        for item in items:
            name, _, rate = item.partition("=")
            rates[AlarmType(name.strip())] = float(rate)
        return rates


async def play_random(
    homes: list[Home],
    traffic: RandomTraffic,
    perform: Callable[[Step], Awaitable[None]],
    *,
    speed: float = 1.0,
    sleep: Sleep = asyncio.sleep,
    rng: random.Random | None = None,
) -> None:
    """Perform random alarm (and some cancel) steps until cancelled."""
    rng = rng or random.Random()
    types = [t for t, r in traffic.rates.items() if r > 0]
    weights = [traffic.rates[t] for t in types]
    # One merged Poisson process for all homes and types: one task for 100,000 homes.
    total_per_second = len(homes) * sum(weights) / 3600.0
    if not homes or total_per_second <= 0:
        return
    pending: set[asyncio.Task[None]] = set()
    try:
        while True:
            await sleep(rng.expovariate(total_per_second) / speed)
            home = rng.choice(homes)
            alarm = rng.choices(types, weights)[0]
            device = home.device_for(alarm)
            if device is None:
                continue  # this home has no device that raises this type
            await perform(Step(0.0, device.id, Action.ALARM, alarm.value))
            if alarm in CANCELLABLE and rng.random() < traffic.cancel_share:
                cancel = Step(0.0, device.id, Action.CANCEL, "last")
                delay = traffic.cancel_after / speed
                task = asyncio.create_task(_later(cancel, delay, perform, sleep))
                pending.add(task)
                task.add_done_callback(pending.discard)
    finally:
        for task in pending:
            task.cancel()


async def _later(
    step: Step, delay: float, perform: Callable[[Step], Awaitable[None]], sleep: Sleep
) -> None:
    """Perform a step after a delay."""
    await sleep(delay)
    await perform(step)
