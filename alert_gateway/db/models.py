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
from .audit import AuditAction, AuditEntry
from .auth import ApiToken, Operator, Role, SignInThrottle, WebSession
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
from .residents import Contact, Device, PhoneType, Relation, Resident
from .sweep import EntryState, Sweep, SweepEntry, SweepState
from .wellbeing import WellbeingCall, WellbeingChannel, WellbeingState

__all__ = [
    "ACTIVE_STATUSES",
    "AckChannel",
    "Alert",
    "AlertEvent",
    "AlertResponder",
    "AlertStatus",
    "ApiToken",
    "AttemptStatus",
    "AuditAction",
    "AuditEntry",
    "Contact",
    "Device",
    "EntryState",
    "Escalation",
    "EscalationState",
    "EventKind",
    "InboundMessage",
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
    "SweepState",
    "Target",
    "WebSession",
    "WellbeingCall",
    "WellbeingChannel",
    "WellbeingState",
]
