"""Status and activity messages noted in memory between checks (the hot path does no I/O).

Losing them in a crash is harmless: a last will is retained by the broker and sent again on
resubscribe, a silent device is caught by its heartbeat deadline, and activity only moves later.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from devices.contract import ActivityMessage, DeviceState

from ..ingest.parse import Incoming


@dataclass
class Taken:
    """What was noted since the last take."""

    offline: dict[str, datetime] = field(default_factory=dict)  # device id → last will received
    activity: dict[str, datetime] = field(default_factory=dict)  # device id → latest activity


class DeviceNotes:
    """A device listener for the ingest pipeline; `wake` is set when a device reports offline."""

    def __init__(self) -> None:
        self._pending = Taken()
        self.wake = asyncio.Event()

    def __call__(self, item: Incoming) -> None:
        """Note one status / activity / heartbeat message (heartbeats are ignored here)."""
        msg = item.message
        if isinstance(msg, ActivityMessage):
            # receipt time, not device time: a wrong device clock must not hide a quiet home
            _keep_latest(self._pending.activity, item.device_id, item.received_at)
        elif msg is DeviceState.OFFLINE:
            _keep_latest(self._pending.offline, item.device_id, item.received_at)
            self.wake.set()
        elif msg is DeviceState.ONLINE:
            self._pending.offline.pop(item.device_id, None)

    def take(self) -> Taken:
        """Everything noted since the last take."""
        taken, self._pending = self._pending, Taken()
        return taken

    def give_back(self, taken: Taken) -> None:
        """Put a take back after a failed check, so the next one sees it."""
        for device_id, at in taken.offline.items():
            _keep_latest(self._pending.offline, device_id, at)
        for device_id, at in taken.activity.items():
            _keep_latest(self._pending.activity, device_id, at)


def _keep_latest(notes: dict[str, datetime], device_id: str, at: datetime) -> None:
    current = notes.get(device_id)
    if current is None or at > current:
        notes[device_id] = at
