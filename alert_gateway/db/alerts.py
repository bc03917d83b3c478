"""Alerts and their append-only timeline."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from .types import enum_field, json_field


class AlertStatus(StrEnum):
    """Life of an alert."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CANCELLED = "cancelled"  # by the resident; stays on the board until an operator resolves it
    RESOLVED = "resolved"

    @property
    def is_active(self) -> bool:
        """Still on the board: not yet closed by an operator (or by a restore)."""
        return self is not AlertStatus.RESOLVED


ACTIVE_STATUSES = (
    AlertStatus.OPEN.value,
    AlertStatus.ACKNOWLEDGED.value,
    AlertStatus.CANCELLED.value,
)


class Outcome(StrEnum):
    """Mandatory closing outcome (DOMAIN.md)."""

    ACCIDENTAL = "accidental"  # accidental / no help needed
    TEST = "test"
    REASSURANCE = "reassurance"  # reassurance or advice
    FAMILY_ATTENDED = "family_attended"  # family or neighbour attended
    RESPONDER_ATTENDED = "responder_attended"
    AMBULANCE = "ambulance"
    FIRE = "fire"
    POLICE = "police"
    TECHNICAL_FAULT = "technical_fault"
    SILENT_CALL_VISIT = "silent_call_visit"
    RESIDENT_AWAY = "resident_away"
    RESTORED = "restored"  # a technical condition ended by itself
    OTHER = "other"


class AckChannel(StrEnum):
    """Where an acknowledgement came from."""

    CONSOLE = "console"
    API = "api"
    SMS = "sms"
    VOICE = "voice"
    LINK = "link"  # the one-tap answer page of an SMS link
    LINE = "line"


class EventKind(StrEnum):
    """Timeline entry kinds."""

    OPENED = "opened"
    ALARM = "alarm"  # a further alarm attached to an open alert
    SEVERITY_RAISED = "severity_raised"
    UNREADABLE = "unreadable"  # an alarm payload that could not be read (kept raw)
    CLOCK_SKEW = "clock_skew"
    RESTORED = "restored"
    CANCEL = "cancel"
    CANCEL_REFUSED = "cancel_refused"
    ESCALATION_STEP = "escalation_step"
    NOTIFICATION = "notification"
    CONTACT_STATE = "contact_state"
    ACKNOWLEDGED = "acknowledged"
    TAKEN = "taken"
    NOTE = "note"
    ARRIVED = "arrived"
    RESIDENT_FINE = "resident_fine"  # the resident pressed 1 on our call
    RESIDENT_HELP = "resident_help"  # the resident pressed 9
    REMINDER = "reminder"
    EXHAUSTED = "exhausted"  # nobody answered: the dispatch centre was told
    KEY_CODE_REVEALED = "key_code_revealed"
    RESOLVED = "resolved"
    DEVICE_BACK = "device_back"
    CALL = "call"  # a call the operator started from the console


class Alert(SQLModel, table=True):
    """One emergency (or technical) case for a resident, from alarm to outcome."""

    __table_args__ = (
        Index("ix_alert_status_severity_opened", "status", "severity", "opened_at"),
        Index("ix_alert_resident_status", "resident_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    resident_id: str | None = Field(default=None, foreign_key="resident.id")
    device_id: str | None = Field(default=None, max_length=64, index=True)
    type: str = enum_field(length=40)
    raw_type: str | None = None  # what the device sent when type is "unknown"
    severity: str = enum_field(length=4)
    status: str = enum_field(AlertStatus.OPEN.value)
    unregistered: bool = False  # from a device we do not know: the centre must still see it
    clock_skew_seconds: int | None = None  # set when the device clock is more than 5 minutes off
    source_message_id: str | None = None
    opened_at: datetime  # receipt time: the response-time clock starts here
    device_ts: datetime | None = None
    first_notified_at: datetime | None = None  # the first alert SMS or call accepted by Twilio
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    ack_channel: str | None = enum_field(None)
    taken_by: str | None = None
    taken_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    outcome: str | None = enum_field(None)
    outcome_note: str | None = Field(default=None, sa_type=Text)
    updated_at: datetime
    # retention (privacy/retention.py): raw payloads, texts and numbers gone; counts stay
    details_purged_at: datetime | None = None


class AlertEvent(SQLModel, table=True):
    """One entry on an alert's timeline. Rows are only ever added."""

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", index=True)
    at: datetime
    kind: str = enum_field(length=32)
    actor: str = "system"  # system, device:<id>, operator:<name>, contact:<id>, api:<token name>
    message: str = ""
    data: dict[str, Any] = json_field()
