"""Request and response schemas of /api/v1, kept apart from the tables."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, model_validator

from ..db.alerts import AckChannel, AlertStatus, EventKind, Outcome
from ..db.escalation import AttemptStatus, ResponderState
from ..db.messages import RejectReason
from ..residents.reads import ContactRead, DeviceRead, ResidentRead
from ..validation import RecordId

T = TypeVar("T")


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorRead(BaseModel):
    """Every error answer: a stable code for programs and a sentence for people."""

    error: str = Field(examples=["not_found"])
    message: str = Field(examples=["There is no alert 42."])


class Page(BaseModel, Generic[T]):
    """One page of a list; `total` counts every match, None where the source does not count."""

    items: list[T]
    total: int | None
    limit: int
    offset: int


class AlertRead(_Read):
    """An alert as listed."""

    id: int
    resident_id: str | None
    device_id: str | None
    type: str
    raw_type: str | None
    severity: str = Field(examples=["P1"])
    status: AlertStatus
    unregistered: bool
    clock_skew_seconds: int | None
    opened_at: datetime
    device_ts: datetime | None
    first_notified_at: datetime | None  # first alert SMS or call accepted by Twilio
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_channel: AckChannel | None
    taken_by: str | None
    taken_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    outcome: Outcome | None
    outcome_note: str | None
    updated_at: datetime


class TimelineEventRead(_Read):
    """One entry on an alert's timeline: `message` in English; `data.text_key` and `data.params`
    hold the same text as a catalogue key and parameters, for a client that shows other languages."""

    id: int
    at: datetime
    kind: EventKind
    actor: str
    message: str
    data: dict[str, Any]


class AttemptRead(_Read):
    """One SMS or call made for an alert."""

    id: int
    step_index: int | None
    target: str
    contact_id: int | None
    to_number: str
    channel: str
    purpose: str
    status: AttemptStatus
    dial_no: int
    answered_by: str | None
    error_code: str | None
    error: str | None
    created_at: datetime
    sent_at: datetime | None
    finished_at: datetime | None


class ResponderRead(BaseModel):
    """A contact involved in an alert and how far they have come."""

    contact_id: int
    name: str
    relation: str
    state: ResponderState
    updated_at: datetime
    note: str | None


class AlertDetail(AlertRead):
    """One alert with everything that happened to it."""

    timeline: list[TimelineEventRead]
    attempts: list[AttemptRead]
    responders: list[ResponderRead]


class RejectedMessageRead(_Read):
    """An MQTT message that was not accepted, kept raw."""

    id: int
    received_at: datetime
    topic: str
    device_id: str | None
    reason: RejectReason
    detail: str
    payload_text: str = Field(description="The payload as UTF-8; undecodable bytes become U+FFFD.")
    payload_base64: str = Field(description="The exact payload bytes, base64-encoded.")
    alert_id: int | None

    @model_validator(mode="before")
    @classmethod
    def _payload(cls, data: Any) -> Any:
        # The table keeps bytes; JSON cannot, so give both a readable and an exact form.
        if isinstance(data, dict) or not hasattr(data, "payload"):
            return data
        values = {name: getattr(data, name) for name in cls.model_fields if hasattr(data, name)}
        raw: bytes = data.payload
        values["payload_text"] = raw.decode("utf-8", errors="replace")
        values["payload_base64"] = base64.b64encode(raw).decode("ascii")
        return values


class AlertPage(Page[AlertRead]):
    """A page of alerts."""


class ResidentPage(Page[ResidentRead]):
    """A page of residents."""


class DevicePage(Page[DeviceRead]):
    """A page of devices."""


class RejectedMessagePage(Page[RejectedMessageRead]):
    """A page of rejected messages."""


class ResidentDetail(ResidentRead):
    """A resident with contacts and devices; the key-safe code is never included."""

    contacts: list[ContactRead]
    devices: list[DeviceRead]


# --- request bodies ----------------------------------------------------------------------


class _Body(BaseModel):
    # Taken exactly as sent, as the document describes it (stripping would accept a value with
    # spaces the document forbids, and measure lengths the document does not).
    model_config = ConfigDict(extra="forbid")


# No NUL (the databases cannot store it); for a note, at least one character that is not
# whitespace as Python's str.isspace sees it (spelled out: JSON Schema's \s differs).
NO_NUL = "^[^\\x00]*$"
_BLANK = ("\\x00\\t\\n\\x0b\\x0c\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f"
          "\\u205f\\u3000")
NOT_BLANK = f"^[^\\x00]*[^{_BLANK}][^\\x00]*$"


def _whole_number(value: Any) -> Any:
    # JSON Schema's "integer" includes 7.0; a bool or a string still fails the strict int below.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# A record id in a JSON body, as the document's "integer" describes it.
BodyRecordId = Annotated[RecordId, BeforeValidator(_whole_number)]


class AcknowledgeIn(_Body):
    """Someone has taken responsibility for the alert."""

    contact_id: BodyRecordId | None = Field(
        default=None, description="The contact who acknowledged; one of the alert's resident's.")


class TakeIn(_Body):
    """The caller takes the alert over from the escalation (recorded as api:<token name>)."""

    force: StrictBool = Field(default=False, description="Take it even if someone else holds it.")


class NoteIn(_Body):
    """A free-text note for the timeline."""

    text: str = Field(min_length=1, max_length=4000, pattern=NOT_BLANK)


class ArrivalIn(_Body):
    """A responder is at the resident's home."""

    contact_id: BodyRecordId | None = Field(
        default=None, description="The responder; one of the alert's resident's contacts.")


class ResolveIn(_Body):
    """Close the alert with its outcome."""

    outcome: Outcome
    note: str | None = Field(default=None, max_length=4000, pattern=NO_NUL)
