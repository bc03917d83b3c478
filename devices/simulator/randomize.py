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


def alarm_sources(homes: list[Home], traffic: RandomTraffic) -> tuple[list[tuple[str, AlarmType]],
                                                                       list[float]]:
    """Every (device, type) that can raise an alarm, with cumulative rates per second.

    A home without a device for a type raises none of it, so its rate counts nowhere: the rates
    are exactly alarms per hour for each home that has such a device.
    """
    sources: list[tuple[str, AlarmType]] = []
    cumulative: list[float] = []
    total = 0.0
    for home in homes:
        for alarm, rate in traffic.rates.items():
            device = home.device_for(alarm) if rate > 0 else None
            if device is not None:
                total += rate / 3600.0
                sources.append((device.id, alarm))
                cumulative.append(total)
    return sources, cumulative


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
    # One merged Poisson process for all homes and types: one task for 100,000 homes; picking a
    # source by its cumulative rate is a bisection, not a scan.
    sources, cumulative = alarm_sources(homes, traffic)
    if not sources:
        return
    total_per_second = cumulative[-1]
    pending: set[asyncio.Task[None]] = set()
    try:
        while True:
            await sleep(rng.expovariate(total_per_second) / speed)
            device_id, alarm = rng.choices(sources, cum_weights=cumulative)[0]
            await perform(Step(0.0, device_id, Action.ALARM, alarm.value))
            if alarm in CANCELLABLE and rng.random() < traffic.cancel_share:
                cancel = Step(0.0, device_id, Action.CANCEL, "last")
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
