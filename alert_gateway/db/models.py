"""Every table, imported in one place so metadata (and alembic) sees them all."""

from .alerts import (
    ACTIVE_STATUSES,
    AckChannel,
    Alert,
    AlertEvent,
    AlertStatus,
    EventKind,
    Outcome,
)
from .answer_links import AnswerLink
from .audit import AuditAction, AuditEntry
from .auth import ApiToken, Operator, Role, SignInThrottle, WebSession
from .calls import CallState, ConsoleCall, HandoverNote
from .escalation import (
    AlertResponder,
    AttemptStatus,
    Escalation,
    EscalationState,
    NotificationAttempt,
    NotifyChannel,
    Purpose,
    ResponderState,
    Target,
)
from .messages import InboundMessage, RejectedMessage, RejectReason
from .residents import Contact, Device, LineLinkCode, PhoneType, Relation, Resident
from .sweep import AnsweredBy, EntryState, Sweep, SweepEntry, SweepLink, SweepState
from .wellbeing import WellbeingCall, WellbeingChannel, WellbeingState

__all__ = [
    "ACTIVE_STATUSES",
    "AckChannel",
    "Alert",
    "AlertEvent",
    "AlertResponder",
    "AlertStatus",
    "AnswerLink",
    "AnsweredBy",
    "ApiToken",
    "AttemptStatus",
    "AuditAction",
    "AuditEntry",
    "CallState",
    "ConsoleCall",
    "Contact",
    "Device",
    "EntryState",
    "Escalation",
    "EscalationState",
    "EventKind",
    "HandoverNote",
    "InboundMessage",
    "LineLinkCode",
    "NotificationAttempt",
    "NotifyChannel",
    "Operator",
    "Outcome",
    "PhoneType",
    "Purpose",
    "RejectReason",
    "RejectedMessage",
    "Relation",
    "Resident",
    "ResponderState",
    "Role",
    "SignInThrottle",
    "Sweep",
    "SweepEntry",
    "SweepLink",
    "SweepState",
    "Target",
    "WebSession",
    "WellbeingCall",
    "WellbeingChannel",
    "WellbeingState",
]
