"""Bytes from the broker become a typed message or a Rejection with a reason; nothing else."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from devices.contract import (
    ActivityMessage,
    AlarmMessage,
    CancelMessage,
    Channel,
    DeviceState,
    HeartbeatMessage,
    Topics,
)

from ..db.messages import RejectReason

_MODELS: dict[Channel, type[AlarmMessage | CancelMessage | HeartbeatMessage | ActivityMessage]] = {
    Channel.ALARM: AlarmMessage,
    Channel.CANCEL: CancelMessage,
    Channel.HEARTBEAT: HeartbeatMessage,
    Channel.ACTIVITY: ActivityMessage,
}
# What every consumer of a stored JSON number (PostgreSQL, the console's JavaScript) holds exactly
# enough of: a 64-bit integer. Beyond it a reading is not a reading.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class Incoming:
    """A valid message from one device."""

    device_id: str
    channel: Channel
    message: AlarmMessage | CancelMessage | HeartbeatMessage | ActivityMessage | DeviceState
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message kept raw because it could not be read; on an alarm topic it still raises a P1."""

    topic: str
    payload: bytes
    reason: RejectReason
    detail: str
    received_at: datetime
    device_id: str | None = None
    channel: Channel | None = None

    @property
    def is_unreadable_alarm(self) -> bool:
        """If in doubt, go out: a broken payload on a device's alarm topic is still an alarm."""
        return self.channel is Channel.ALARM and self.device_id is not None


def parse_message(
    topic: str, payload: bytes, *, topics: Topics, max_bytes: int, received_at: datetime
) -> Incoming | Rejection:
    """Validate one MQTT message against the device contract."""
    parsed = topics.parse(topic)
    if parsed is None:
        return Rejection(
            topic,
            payload,
            RejectReason.BAD_TOPIC,
            f"topic does not match {topics.root}/{{device_id}}/{{channel}}",
            received_at,
        )

    def reject(reason: RejectReason, detail: str) -> Rejection:
        return Rejection(topic, payload, reason, detail, received_at, parsed.device_id, parsed.channel)

    if len(payload) > max_bytes:
        return reject(RejectReason.OVERSIZED, f"payload is {len(payload)} bytes; the limit is {max_bytes}")
    # Kept although feedback is no longer subscribed: after an upgrade, echoes of our own output
    # queued in the old whole-tree session still arrive, and `_MODELS` has no entry for them.
    if parsed.channel is Channel.FEEDBACK:
        return reject(RejectReason.BAD_TOPIC, "feedback topics are written by the gateway only")
    if parsed.channel is Channel.STATUS:
        return _parse_status(parsed.device_id, payload, received_at, reject)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        return reject(RejectReason.NOT_UTF8, f"payload is not UTF-8: {exc.reason} at byte {exc.start}")
    model = _MODELS[parsed.channel]
    try:
        message = model.model_validate_json(text)
    except ValidationError as exc:
        return reject(*_explain(exc))
    for name in type(message).model_fields:  # declared fields only: unknown extras are never stored
        problem = unstorable(getattr(message, name), name)
        if problem is not None:
            return reject(RejectReason.INVALID_VALUE, problem)
    return Incoming(parsed.device_id, parsed.channel, message, received_at)


def unstorable(value: object, where: str) -> str | None:
    """Why a value cannot be stored as it stands (a NUL, a non-finite or huge number), or None."""
    if isinstance(value, str):
        if "\x00" in value:  # PostgreSQL text cannot hold it (JSON parsing already refuses lone surrogates)
            return f"{where}: contains a NUL character"
    elif isinstance(value, bool):
        return None
    elif isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            return f"{where}: integer out of the 64-bit range"
    elif isinstance(value, float):
        if not math.isfinite(value):  # NaN, Infinity, and 1e400, which Python reads as inf
            return f"{where}: not a finite number"
    elif isinstance(value, dict):
        for key, item in value.items():
            problem = unstorable(key, f"{where} key") or unstorable(item, f"{where}.{printable(key)}")
            if problem is not None:
                return problem
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            problem = unstorable(item, f"{where}[{index}]")
            if problem is not None:
                return problem
    return None


def printable(text: str, limit: int = 2000) -> str:
    """Text safe for any text column: NUL and unpaired surrogates escaped, length bounded."""
    text = text[:limit].replace("\x00", "\\x00")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _parse_status(device_id: str, payload: bytes, received_at: datetime, reject: Any) -> Incoming | Rejection:
    value = payload.decode("utf-8", "replace").strip().strip('"').lower()
    try:
        return Incoming(device_id, Channel.STATUS, DeviceState(value), received_at)
    except ValueError:
        return reject(RejectReason.SCHEMA, "status must be 'online' or 'offline'")  # type: ignore[no-any-return]


def _explain(exc: ValidationError) -> tuple[RejectReason, str]:
    """A person-readable reason: which field is wrong and why."""
    errors = exc.errors(include_url=False)
    if errors and errors[0]["type"] in ("json_invalid", "json_type"):
        return RejectReason.NOT_JSON, f"payload is not a JSON object: {errors[0]['msg']}"
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    return RejectReason.SCHEMA, "; ".join(parts)
