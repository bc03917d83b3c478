"""What came in over MQTT: accepted message ids (for de-duplication) and rejected raw messages."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from .types import enum_field


class InboundMessage(SQLModel, table=True):
    """An accepted alarm or cancel; (device, channel, message id) is unique so repeats are dropped."""

    __table_args__ = (UniqueConstraint("device_id", "channel", "message_id", name="uq_inbound_device_msg"),)

    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(max_length=64)
    channel: str = enum_field(length=16)
    message_id: str = Field(max_length=64)
    alarm_type: str | None = Field(default=None, max_length=40)  # what a later cancel refers to
    received_at: datetime
    device_ts: datetime | None = None
    alert_id: int | None = Field(default=None, foreign_key="alert.id", index=True)


class RejectReason(StrEnum):
    """Why a message was not accepted as it stands."""

    BAD_TOPIC = "bad_topic"
    OVERSIZED = "oversized"
    NOT_JSON = "not_json"
    SCHEMA = "schema"
    NOT_UTF8 = "not_utf8"
    INVALID_VALUE = "invalid_value"  # valid JSON the database cannot hold (NUL, NaN, huge number)
    UNSTORABLE = "unstorable"  # the database refused it as it stands (kept raw instead)
    # SIA DC-09 receiver (bridges/sia_*.py): the panel is answered NAK, or DUH when ignored
    SIA_CRC = "sia_crc"  # the frame's CRC-16 does not match: garbled on the line
    SIA_FORMAT = "sia_format"  # not a DC-09 frame, wrong length, or content we cannot read
    SIA_NO_KEY = "sia_no_key"  # encrypted, and no key (or the wrong key) for the account
    SIA_TIMESTAMP = "sia_timestamp"  # encrypted frame outside the replay window (or none)
    SIA_IGNORED = "sia_ignored"  # well-formed panel bookkeeping we do not act on


class RejectedMessage(SQLModel, table=True):
    """A message kept raw with the reason it was rejected; never silently dropped."""

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(index=True)
    topic: str
    device_id: str | None = Field(default=None, max_length=64)
    reason: str = enum_field(length=16)
    detail: str
    payload: bytes = Field(sa_type=LargeBinary)
    alert_id: int | None = Field(default=None, foreign_key="alert.id")
