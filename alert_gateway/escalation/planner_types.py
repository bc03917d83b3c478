"""What the pure planner reads and decides: views of the loaded rows, and the plan it returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..db.alerts import EventKind
from ..db.escalation import (
    AttemptStatus,
    EscalationState,
    NotifyChannel,
    Purpose,
    ResponderState,
    Target,
)
from ..db.residents import PhoneType
from ..i18n.said import Said, person, say, term

CHANNEL_ORDER = (NotifyChannel.VOICE, NotifyChannel.SMS, NotifyChannel.LINE)


@dataclass(frozen=True, slots=True)
class Person:
    """Someone the engine can notify: the resident, a contact or the dispatch centre."""

    target: Target
    contact_id: int | None
    name: str
    phone: str
    phone_type: PhoneType = PhoneType.UNKNOWN
    language: str = "ja"
    relation: str | None = None
    priority: int = 1
    channels: frozenset[str] = frozenset({"sms", "voice"})
    sms_opt_out: bool = False
    line_user_id: str | None = None  # linked LINE account (linking is the consent to LINE)

    @property
    def ref(self) -> str:
        """How a timeline text refers to this person (shown by their current name)."""
        if self.contact_id is not None:
            return f"contact:{self.contact_id}"
        return self.target.value

    def mention(self) -> dict[str, str]:
        """This person as a timeline parameter (shown by their current name)."""
        return person(self.ref, self.name)

    def with_role(self) -> dict[str, Any]:
        """「山田 花子(家族)」: the person and their relation, as a timeline parameter."""
        role = f"relation.{self.relation}" if self.relation else f"target.{self.target.value}"
        return say("timeline.person_relation", name=self.mention(), relation=term(role)).data()

    @property
    def key(self) -> tuple[str, int | None, str]:
        """Identifies this person among a step's targets."""
        return (self.target.value, self.contact_id, self.phone)

    def usable(self, wanted: frozenset[NotifyChannel]) -> list[NotifyChannel]:
        """The step's channels this person takes: never SMS to a landline or an opted-out number,
        LINE only to a linked account; voice first, LINE last (it never holds up a call or SMS)."""
        out: list[NotifyChannel] = []
        for channel in sorted(wanted, key=CHANNEL_ORDER.index):
            if channel is NotifyChannel.LINE:
                if self.line_user_id:
                    out.append(channel)
                continue
            if channel.value not in self.channels:
                continue
            if channel is NotifyChannel.SMS and (
                self.phone_type is PhoneType.LANDLINE or self.sms_opt_out
            ):
                continue
            out.append(channel)
        return out


@dataclass(frozen=True, slots=True)
class AttemptView:
    """What the planner needs from one ALERT notification attempt."""

    id: int
    step_index: int
    round: int
    target: Target
    contact_id: int | None
    to_number: str
    channel: NotifyChannel
    status: AttemptStatus
    dial_no: int = 1
    has_sid: bool = True  # False: Twilio never took it (a permanent API error): no re-dial


@dataclass(frozen=True, slots=True)
class EscalationView:
    """The escalation row as the planner sees it."""

    state: EscalationState
    step_index: int
    round: int
    started_at: datetime
    next_due_at: datetime | None
    step_due_at: datetime | None
    reminders: int = 0


@dataclass(frozen=True, slots=True)
class PlanEnv:
    """Everything else the decision depends on, loaded by the engine."""

    is_night: Callable[[datetime], bool]
    next_change: Callable[[datetime], datetime]  # the next day/night boundary after a time
    fall_guard_seconds: int = 0
    reminder_seconds: int = 1800
    acknowledged_at: datetime | None = None
    resolved: bool = False
    responders: Mapping[int, ResponderState] = field(default_factory=dict)
    resident_recent_steps: int = (
        0  # notified steps of this policy for this resident in its cap window
    )


@dataclass(frozen=True, slots=True)
class Send:
    """One outbox row to write."""

    person: Person
    channel: NotifyChannel
    step_index: int
    round: int
    not_before: datetime
    dial_no: int = 1
    purpose: Purpose = Purpose.ALERT


@dataclass(frozen=True, slots=True)
class Note:
    """One timeline entry to write."""

    kind: EventKind
    said: Said
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plan:
    """What the engine writes: the new escalation row, outbox rows and timeline entries."""

    state: EscalationState
    step_index: int
    round: int
    step_due_at: datetime | None
    next_due_at: datetime | None
    reminders: int = 0
    sends: list[Send] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    remind: bool = False  # tell the console (and timeline) that an acknowledged alert is still open
