"""Background device behaviour: heartbeats at each device's interval, motion and door events."""

from __future__ import annotations

import asyncio
import heapq
import random
from collections.abc import Awaitable, Callable

from .device import SimDevice

Emit = Callable[[SimDevice], Awaitable[None]]


async def heartbeat_loop(
    devices: list[SimDevice], beat: Emit, *, speed: float, spread: bool, rng: random.Random
) -> None:
    """Every device's heartbeats from one heap-ordered loop (one task for 100,000 devices)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    heap: list[tuple[float, int]] = []
    for index, device in enumerate(devices):
        period = device.spec.heartbeat_interval / speed
        # many devices: spread first beats over one period instead of a thundering herd
        heap.append((start + (rng.uniform(0, period) if spread else 0.0), index))
    heapq.heapify(heap)
    while heap:
        due, index = heap[0]
        if (wait := due - loop.time()) > 0:
            await asyncio.sleep(wait)
            continue
        heapq.heappop(heap)
        device = devices[index]
        if device.silenced:
            continue
        await beat(device)
        heapq.heappush(heap, (due + device.spec.heartbeat_interval / speed, index))


async def activity_loop(
    devices: list[SimDevice], emit: Emit, *, per_hour: float, speed: float, rng: random.Random
) -> None:
    """Motion and door events as one merged Poisson process over all activity sensors."""
    sensors = [d for d in devices if d.spec.reports_activity]
    per_second = len(sensors) * per_hour / 3600.0 * speed
    if per_second <= 0:
        return
    while True:
        await asyncio.sleep(rng.expovariate(per_second))
        device = rng.choice(sensors)
        if not (device.quiet or device.silenced):
            await emit(device)
