"""One simulated device's state and the contract payloads it builds."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from devices.contract import (
    ActivityKind,
    ActivityMessage,
    AlarmMessage,
    CancelMessage,
    HeartbeatMessage,
    Qualifier,
)

from .homes import DeviceSpec


@dataclass(slots=True)
class SimDevice:
    """A device's changing state: battery, last alarm, whether it still talks."""

    spec: DeviceSpec
    run_id: str  # in every message id, so a second run's ids never collide with the first's
    battery: float = 100.0
    silenced: bool = False  # dead: no heartbeats, no publishes
    quiet: bool = False  # no automatic activity events (the resident stopped moving)
    last_alarm_id: str | None = None
    door_open: bool = False
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def id(self) -> str:
        """The device id (also its MQTT client id and username)."""
        return self.spec.id

    @property
    def battery_percent(self) -> int:
        """Battery as the contract's whole percent."""
        return max(0, min(100, round(self.battery)))

    def next_id(self) -> str:
        """A message id unique for this device across runs."""
        return f"{self.run_id}-{next(self._counter)}"

    def alarm(
        self,
        alarm_type: str,
        now: datetime,
        *,
        message_id: str | None = None,
        qualifier: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> AlarmMessage:
        """A new alarm; it becomes the one `cancel: last` refers to."""
        message = AlarmMessage(
            id=message_id or self.next_id(),
            type=alarm_type,
            ts=now,
            qualifier=Qualifier(qualifier) if qualifier else Qualifier.NEW,
            battery=self.battery_percent,
            data=data,
        )
        self.last_alarm_id = message.id
        return message

    def cancel(
        self, alarm_id: str, now: datetime, *, message_id: str | None = None
    ) -> CancelMessage:
        """A cancel of an earlier alarm."""
        return CancelMessage(id=message_id or self.next_id(), alarm_id=alarm_id, ts=now)

    def heartbeat(self, now: datetime, *, drain: float, firmware: str) -> HeartbeatMessage:
        """A heartbeat; each one drains the battery a little."""
        self.battery = max(0.0, self.battery - drain)
        return HeartbeatMessage(ts=now, battery=self.battery_percent, firmware=firmware)

    def activity(self, now: datetime, kind: str | None = None) -> ActivityMessage:
        """An activity event: motion, or the door alternately opening and closing."""
        if kind is None and self.spec.kind == "door_sensor":
            self.door_open = not self.door_open
            kind = ActivityKind.DOOR_OPEN if self.door_open else ActivityKind.DOOR_CLOSE
        return ActivityMessage(ts=now, kind=ActivityKind(kind or ActivityKind.MOTION))


def now_in(tz: tzinfo) -> datetime:
    """Device time: aware, in the home's time zone, to the millisecond."""
    now = datetime.now(tz)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def encode(message: AlarmMessage | CancelMessage | HeartbeatMessage | ActivityMessage) -> bytes:
    """The wire form: compact JSON without null fields."""
    return message.model_dump_json(exclude_none=True).encode()
