"""Heartbeats are most of the traffic: keep last-seen in memory and write it in batches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.models import Device


@dataclass(slots=True)
class Sighting:
    """The latest we heard from one device since the last flush."""

    seen_at: datetime
    battery: int | None = None
    firmware: str | None = None


class LastSeenBuffer:
    """Device id → latest sighting; `take` hands the batch to a flush and starts a new one."""

    def __init__(self) -> None:
        self._pending: dict[str, Sighting] = {}

    def note(
        self,
        device_id: str,
        seen_at: datetime,
        *,
        battery: int | None = None,
        firmware: str | None = None,
    ) -> None:
        """Record that a device was heard from; O(1), no I/O (this is the hot path)."""
        current = self._pending.get(device_id)
        if current is None:
            self._pending[device_id] = Sighting(seen_at, battery, firmware)
            return
        current.seen_at = max(current.seen_at, seen_at)
        if battery is not None:
            current.battery = battery
        if firmware is not None:
            current.firmware = firmware

    def __len__(self) -> int:
        return len(self._pending)

    def take(self) -> dict[str, Sighting]:
        """Everything noted since the last take."""
        pending, self._pending = self._pending, {}
        return pending


async def flush_sightings(session: AsyncSession, sightings: dict[str, Sighting]) -> set[str]:
    """Write last-seen, battery and firmware for known devices; returns the ids that were updated."""
    if not sightings:
        return set()
    known: set[str] = set()
    ids = list(sightings)
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        rows = await session.exec(select(Device.id).where(col(Device.id).in_(chunk)))
        known.update(rows.all())
    groups: dict[tuple[bool, bool], list[dict[str, object]]] = {}
    for device_id in known:
        s = sightings[device_id]
        row: dict[str, object] = {"id": device_id, "last_seen_at": s.seen_at}
        if s.battery is not None:
            row["battery"] = s.battery
        if s.firmware is not None:
            row["firmware"] = s.firmware
        groups.setdefault((s.battery is not None, s.firmware is not None), []).append(row)
    for rows_ in groups.values():  # executemany needs the same columns in every row
        await session.exec(update(Device), params=rows_)
    return known
