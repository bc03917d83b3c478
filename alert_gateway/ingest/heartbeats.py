"""Heartbeats are most of the traffic: keep last-seen in memory and write it in batches.

A sighting is one small tuple per device heard since the last flush (seen time as float epoch
seconds, not a datetime: about 120 B per device with its dict slot). Sightings taken by a
flush stay readable until that flush has committed, so supervision never misses a device that
was heard but is not in the database yet.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import NamedTuple

from prometheus_client import Counter
from sqlalchemy import bindparam, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.engine import SessionFactory
from ..db.models import Device
from .dberrors import describe, is_unavailable

log = logging.getLogger(__name__)

FLUSH_CHUNK = 5000  # rows per statement: bounded parameters, and alarms interleave between chunks
# Distinct firmware strings shared between devices. A fleet runs a handful of versions; a device
# reporting a new string on every heartbeat must not grow the table forever, so it starts over.
FIRMWARE_INTERN_LIMIT = 256


class Sighting(NamedTuple):
    """The latest we heard from one device since the last flush.

    A tuple of atoms, so the garbage collector stops tracking it: 100,000s of these are replaced
    every flush, and tracked objects would make each full collection walk all of them.
    """

    seen: float  # epoch seconds
    battery: int | None = None
    firmware: str | None = None

    @property
    def seen_at(self) -> datetime:
        """The seen time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.seen, UTC)


class LastSeenBuffer:
    """Device id → latest sighting; `take` hands the batch to a flush and starts a new one."""

    def __init__(self) -> None:
        self._pending: dict[str, Sighting] = {}
        self._in_flight: list[dict[str, Sighting]] = []  # taken, not yet committed
        self._firmware: dict[str, str] = {}  # one string per firmware version, not per device

    def note(
        self,
        device_id: str,
        seen_at: datetime,
        *,
        battery: int | None = None,
        firmware: str | None = None,
    ) -> None:
        """Record that a device was heard from; O(1), no I/O (this is the hot path)."""
        seen = seen_at.timestamp()
        if firmware is not None:
            firmware = self._intern_firmware(firmware)
        current = self._pending.get(device_id)
        if current is not None:
            seen = max(seen, current.seen)
            battery = current.battery if battery is None else battery
            firmware = current.firmware if firmware is None else firmware
        self._pending[device_id] = Sighting(seen, battery, firmware)

    def _intern_firmware(self, firmware: str) -> str:
        """The shared copy of this firmware string; the table is bounded by FIRMWARE_INTERN_LIMIT."""
        shared = self._firmware.get(firmware)
        if shared is not None:
            return shared
        if len(self._firmware) >= FIRMWARE_INTERN_LIMIT:
            self._firmware.clear()  # strings still held by sightings stay alive through them
        self._firmware[firmware] = firmware
        return firmware

    def __len__(self) -> int:
        return len(self._pending)

    def seen_at(self, device_id: str) -> datetime | None:
        """The latest sighting not yet committed (pending or being flushed), or None."""
        best: float | None = None
        for batch in (self._pending, *self._in_flight):
            s = batch.get(device_id)
            if s is not None and (best is None or s.seen > best):
                best = s.seen
        return None if best is None else datetime.fromtimestamp(best, UTC)

    def take(self) -> dict[str, Sighting]:
        """Everything noted since the last take; readable via `seen_at` until `settle`."""
        pending, self._pending = self._pending, {}
        if pending:
            self._in_flight.append(pending)
        return pending

    def settle(self, taken: dict[str, Sighting], *, stored: bool) -> None:
        """A flush ended: forget `taken` once stored, else keep it for the next flush."""
        self._in_flight = [b for b in self._in_flight if b is not taken]
        if stored:
            return
        for device_id, s in taken.items():
            current = self._pending.get(device_id)
            if current is not None:  # heard again meanwhile: its newer values win
                s = Sighting(max(current.seen, s.seen),
                             s.battery if current.battery is None else current.battery,
                             s.firmware if current.firmware is None else current.firmware)
            self._pending[device_id] = s


def chunks(sightings: dict[str, Sighting], size: int = FLUSH_CHUNK) -> Iterator[dict[str, Sighting]]:
    """The sightings in pieces of at most `size`, each one short transaction's worth."""
    items = iter(sightings.items())  # no list of every item: a big allocation burst wakes the GC
    while chunk := dict(islice(items, size)):
        yield chunk


_table = Device.__table__  # type: ignore[attr-defined]
_UPDATES = {  # executemany needs the same columns in every row: one statement per shape
    (b, f): update(_table)
    .where(_table.c.id == bindparam("b_id"))
    .values(
        last_seen_at=bindparam("b_seen", type_=_table.c.last_seen_at.type),
        **({"battery": bindparam("b_battery")} if b else {}),
        **({"firmware": bindparam("b_firmware")} if f else {}),
    )
    for b in (False, True)
    for f in (False, True)
}


async def flush_sightings(session: AsyncSession, sightings: dict[str, Sighting]) -> set[str]:
    """Write last-seen, battery and firmware for known devices; returns the ids that were updated."""
    if not sightings:
        return set()
    known: set[str] = set()
    ids = list(sightings)
    connection = await session.connection()  # Core statements: no ORM bookkeeping per row
    for start in range(0, len(ids), FLUSH_CHUNK):
        chunk = ids[start : start + FLUSH_CHUNK]
        rows = await connection.execute(select(_table.c.id).where(_table.c.id.in_(chunk)))
        known.update(rows.scalars().all())
    groups: dict[tuple[bool, bool], list[dict[str, object]]] = {}
    for device_id in known:
        s = sightings[device_id]
        row: dict[str, object] = {"b_id": device_id, "b_seen": s.seen_at}
        if s.battery is not None:
            row["b_battery"] = s.battery
        if s.firmware is not None:
            row["b_firmware"] = s.firmware
        groups.setdefault((s.battery is not None, s.firmware is not None), []).append(row)
    for shape, rows_ in groups.items():  # executemany: one statement per row shape
        await connection.execute(_UPDATES[shape], rows_)
    return known


async def store_sightings(
    sessions: SessionFactory, sightings: dict[str, Sighting], *, dropped: Counter
) -> set[str]:
    """Flush `sightings` in one transaction; if the database refuses one, the rest are still written.

    A refused chunk is halved until the refused sighting is alone; that device keeps its last-seen
    time without the battery and firmware that were refused, or, if even that fails, is dropped
    (logged, counted). An unavailable database raises: the caller keeps everything for next time.
    """
    try:
        async with sessions() as session:
            known = await flush_sightings(session, sightings)
            await session.commit()
        return known
    except Exception as exc:
        if is_unavailable(exc):
            raise
        if len(sightings) > 1:
            items = list(sightings.items())
            half = len(items) // 2
            first = await store_sightings(sessions, dict(items[:half]), dropped=dropped)
            return first | await store_sightings(sessions, dict(items[half:]), dropped=dropped)
        [(device_id, sighting)] = sightings.items()
        dropped.inc()
        extra = {"device_id": device_id}
        if sighting.battery is None and sighting.firmware is None:
            log.error("last-seen update refused, dropped: %s", describe(exc), extra=extra)
            return set()
        log.error("device update refused, battery and firmware dropped: %s", describe(exc), extra=extra)
        return await store_sightings(sessions, {device_id: Sighting(sighting.seen)}, dropped=dropped)
