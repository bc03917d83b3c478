"""Escalation state and the outbox of notification attempts: the engine's truth lives here."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Text, text
from sqlmodel import Field, SQLModel

from .types import enum_field


class EscalationState(StrEnum):
    """Where one alert's escalation stands."""

    GUARD = "guard"  # fall guard: waiting for the resident to get up
    RUNNING = "running"
    STOPPED = "stopped"  # cancelled or resolved: nothing more to do
    WATCHING = "watching"  # acknowledged: remind the console if it is not resolved in time
    EXHAUSTED = "exhausted"  # every step spent; the dispatch centre was told nobody answered


class Escalation(SQLModel, table=True):
    """One row per alert that escalates; `next_due_at` is when the engine must look at it again."""

    __table_args__ = (Index("ix_escalation_due", "state", "next_due_at"),)

    alert_id: int = Field(primary_key=True, foreign_key="alert.id")
    policy: str
    severity_rank: int  # 1 = P1; sends are served by this, then by age
    step_index: int = 0  # the next step to run
    round: int = 0  # how many times the repeating tail has run
    state: str = enum_field(EscalationState.RUNNING.value)
    next_due_at: datetime | None = None
    step_due_at: datetime | None = None  # the running step's wait ends; None = not yet entered
    reminders: int = 0  # console reminders sent after the acknowledgement
    started_at: datetime
    updated_at: datetime


class Target(StrEnum):
    """Who a notification goes to."""

    RESIDENT = "resident"
    CONTACT = "contact"
    DISPATCH = "dispatch"


class NotifyChannel(StrEnum):
    """How a notification goes out."""

    SMS = "sms"
    VOICE = "voice"
    LINE = "line"  # a push message with buttons to a linked LINE account


class Purpose(StrEnum):
    """Why a message is sent."""

    ALERT = "alert"  # the escalation itself
    TAKEN_NOTICE = "taken_notice"  # "taken by X" to contacts already notified
    CANCEL_NOTICE = "cancel_notice"
    REPLY = "reply"  # automatic answer to an inbound SMS
    SUMMARY = "summary"  # short summary after the alert is resolved
    EXHAUSTED = "exhausted"  # nobody answered: told to the dispatch centre
    WELLBEING = "wellbeing"  # a scheduled お元気コール to the resident (no alert)
    SWEEP = "sweep"  # a disaster sweep's check call to the resident (no alert)


class AttemptStatus(StrEnum):
    """Life of one notification attempt."""

    PENDING = "pending"  # in the outbox, not yet handed to Twilio
    SENDING = "sending"  # API call in flight (the only thing a crash may repeat)
    QUEUED = "queued"
    SENT = "sent"
    RINGING = "ringing"
    IN_PROGRESS = "in_progress"
    DELIVERED = "delivered"  # SMS reached the handset (not yet an acknowledgement)
    ACCEPTED = "accepted"  # a person said "I will respond" (key 1 / SMS 1)
    DECLINED = "declined"  # key 2 / SMS 2: move on now
    NOT_REACHED = "not_reached"  # voicemail, machine, no keypress, busy, no answer
    FAILED = "failed"
    UNDELIVERED = "undelivered"
    CANCELED = "canceled"  # the escalation stopped before it was sent (or its call was hung up)
    HANGING_UP = "hanging_up"  # voided: its call is still live, the dispatcher ends it via the API
    SKIPPED = "skipped"  # rate cap, landline for SMS, opted out

    @property
    def rank(self) -> int:
        """Progress order: callbacks come out of order, and never move an attempt backwards."""
        return STATUS_RANK.get(self, 9)

    @property
    def is_final(self) -> bool:
        """No more provider updates are expected (or they no longer matter)."""
        return self in FINAL_ATTEMPT_STATUSES

    @property
    def is_failure(self) -> bool:
        """The person was not reached through this attempt."""
        return self in FAILED_ATTEMPT_STATUSES


FAILED_ATTEMPT_STATUSES = frozenset(
    {AttemptStatus.NOT_REACHED, AttemptStatus.FAILED, AttemptStatus.UNDELIVERED}
)
STATUS_RANK = {
    AttemptStatus.PENDING: 0,
    AttemptStatus.SENDING: 1,
    AttemptStatus.QUEUED: 2,
    AttemptStatus.SENT: 3,
    AttemptStatus.RINGING: 3,
    AttemptStatus.IN_PROGRESS: 4,
}
FINAL_ATTEMPT_STATUSES = FAILED_ATTEMPT_STATUSES | {
    AttemptStatus.DELIVERED,
    AttemptStatus.ACCEPTED,
    AttemptStatus.DECLINED,
    AttemptStatus.CANCELED,
    AttemptStatus.HANGING_UP,  # provider updates no longer matter: the call is being ended
    AttemptStatus.SKIPPED,
}


# Attempts whose `deadline_at` counts (a send's lease, a call's poll time): ix_attempt_deadline's rows.
IN_FLIGHT_SQL = "status IN ('sending', 'queued', 'sent', 'ringing', 'in_progress', 'hanging_up')"


class NotificationAttempt(SQLModel, table=True):
    """One SMS or call, from the outbox to its final provider status."""

    __table_args__ = (
        Index("ix_attempt_outbox", "status", "priority", "not_before"),
        Index("ix_attempt_to_number", "to_number", "created_at"),
        # The dispatcher's deadline looks (next wake, stuck calls, expired leases) by deadline
        # among the few attempts in flight. PostgreSQL only: it keeps an index entry per row
        # version until a VACUUM, so the status prefix of ix_attempt_outbox collects one for every
        # status each attempt passed through, and those looks read them all (42,500 entries for
        # 16 rows in flight, 20-40 ms each, late in a 10,000-resident sweep on a server without
        # autovacuum; bench/README.md, branch sweeppg). Walked in deadline order, dead entries
        # are marked and skipped. SQLite updates its index entries in place.
        Index("ix_attempt_deadline", "deadline_at", postgresql_where=text(IN_FLIGHT_SQL),
              info={"only_on": "postgresql"}).ddl_if(dialect="postgresql"),
    )

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int | None = Field(default=None, foreign_key="alert.id", index=True)
    step_index: int | None = None
    round: int | None = None  # with step_index: which pass of the policy sent it
    target: str = enum_field()
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    to_number: str
    channel: str = enum_field(length=8)
    purpose: str = enum_field(Purpose.ALERT.value)
    status: str = enum_field(AttemptStatus.PENDING.value)
    priority: int = 4  # severity rank of the alert; 1 is served first
    dial_no: int = 1  # 2 = the re-dial of a not-reached call
    retries: int = 0  # transient API errors so far
    provider_sid: str | None = Field(default=None, unique=True, max_length=64)
    answered_by: str | None = None
    body: str | None = Field(default=None, sa_type=Text)
    error_code: str | None = None
    error: str | None = None
    created_at: datetime
    not_before: datetime  # earliest send time (retry backoff, re-dial delay)
    sent_at: datetime | None = None
    deadline_at: datetime | None = None  # SENDING: lease; queued/ringing past this: poll or fail
    finished_at: datetime | None = None


class ResponderState(StrEnum):
    """Contact states (DOMAIN.md): notified, answered, accepted or declined, arrived."""

    NOTIFIED = "notified"
    ANSWERED = "answered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    ARRIVED = "arrived"


class AlertResponder(SQLModel, table=True):
    """How far one contact has come on one alert."""

    alert_id: int = Field(primary_key=True, foreign_key="alert.id")
    contact_id: int = Field(primary_key=True, foreign_key="contact.id")
    state: str = enum_field(ResponderState.NOTIFIED.value)
    short_code: str | None = None  # names the alert in SMS when the contact has several open
    updated_at: datetime
    note: str | None = Field(default=None, sa_type=Text)
