"""Provider statuses mapped onto attempts; updates only move forward, so callbacks are idempotent."""

from __future__ import annotations

from datetime import datetime

from ..db.models import AttemptStatus, NotificationAttempt, NotifyChannel
from ..metrics import Metrics

# https://www.twilio.com/docs/messaging/api/message-resource#message-status-values
SMS_STATUS = {
    "accepted": AttemptStatus.QUEUED, "scheduled": AttemptStatus.QUEUED,
    "queued": AttemptStatus.QUEUED, "sending": AttemptStatus.SENT, "sent": AttemptStatus.SENT,
    "delivered": AttemptStatus.DELIVERED, "read": AttemptStatus.DELIVERED,
    "partially_delivered": AttemptStatus.DELIVERED, "undelivered": AttemptStatus.UNDELIVERED,
    "failed": AttemptStatus.FAILED, "canceled": AttemptStatus.FAILED,
}
# https://www.twilio.com/docs/voice/api/call-resource#call-status-values
# "Reached" means a human pressed a key: a call that ends without one is not reached.
CALL_STATUS = {
    "queued": AttemptStatus.QUEUED, "initiated": AttemptStatus.QUEUED,
    "ringing": AttemptStatus.RINGING, "in-progress": AttemptStatus.IN_PROGRESS,
    "answered": AttemptStatus.IN_PROGRESS, "completed": AttemptStatus.NOT_REACHED,
    "busy": AttemptStatus.NOT_REACHED, "no-answer": AttemptStatus.NOT_REACHED,
    "canceled": AttemptStatus.NOT_REACHED, "failed": AttemptStatus.FAILED,
}


# A LINE push answered 200 is with the recipient's LINE app (LINE sends no delivery receipts).
LINE_STATUS = {"sent": AttemptStatus.DELIVERED}


def map_status(channel: str, provider_status: str) -> AttemptStatus | None:
    """Our status for a provider's status string; None when it tells us nothing."""
    table = {NotifyChannel.VOICE.value: CALL_STATUS,
             NotifyChannel.LINE.value: LINE_STATUS}.get(channel, SMS_STATUS)
    return table.get(provider_status.lower())


def tells_nothing_new(channel: str, provider_status: str) -> bool:
    """A status no later than the API's own answer (queued, accepted ...) changes no attempt."""
    new = map_status(channel, provider_status)
    return new is None or new.rank <= AttemptStatus.QUEUED.rank


def on_the_way(channel: str, provider_status: str) -> bool:
    """A status that moves an attempt on without failing it (sent, ringing, answered, delivered):
    shown on the console, but no escalation step waits for it."""
    new = map_status(channel, provider_status)
    return new is not None and not new.is_failure


def advance(attempt: NotificationAttempt, new: AttemptStatus, *, now: datetime,
            metrics: Metrics | None = None) -> bool:
    """Move the attempt forward to `new`; a final status or a step back is ignored. True if changed."""
    current = AttemptStatus(attempt.status)
    if current.is_final or new.rank <= current.rank:
        return False
    attempt.status = new.value
    if new.is_final:
        attempt.finished_at = now
        attempt.deadline_at = None
        if metrics is not None:
            metrics.notifications.labels(channel=attempt.channel, status=new.value).inc()
    return True


def settle(attempt: NotificationAttempt, new: AttemptStatus, *, now: datetime,
           metrics: Metrics | None = None) -> bool:
    """A keypress outranks everything else (a machine verdict may have been wrong)."""
    if attempt.status == new.value:
        return False
    was_final = AttemptStatus(attempt.status).is_final
    attempt.status = new.value
    attempt.finished_at = now
    attempt.deadline_at = None
    if metrics is not None and not was_final:
        metrics.notifications.labels(channel=attempt.channel, status=new.value).inc()
    return True
