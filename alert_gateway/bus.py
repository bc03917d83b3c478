"""Notices that an alert changed, published after commit (the database stays the truth).

Listeners: the escalation engine and dispatcher (wake up now), device feedback, the console's live
board and, on PostgreSQL, the replica link (NOTIFY to the other replicas). Each listener has its own
bounded queue and task, so publishing never waits for a listener: a Twilio webhook answers without
waiting for device feedback's MQTT PUBACKs.

When a listener's queue is full: a notice identical to one still queued is merged into it (every
listener re-reads the database, so a repeat carries nothing); a new one is dropped, logged at ERROR
and counted. For the wake-ups and the board that loses nothing (the queued notices wake them and
they read everything); for device feedback it loses that one message, which is why the bound is
far above anything a storm queues.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from prometheus_client import Counter

log = logging.getLogger(__name__)
QUEUE_MAX = 10_000  # distinct notices waiting for one listener (a storm of 10,000 alarms fits)


class ChangeKind(StrEnum):
    """What happened to an alert. The values travel in PostgreSQL NOTIFY payloads between replicas
    (db/notify.py), so they never change; a timeline entry's kind has the same value as its
    EventKind (tests/replicas/test_bus.py checks that every EventKind has one here)."""

    OPENED = "opened"
    ALARM = "alarm"
    SEVERITY_RAISED = "severity_raised"
    UNREADABLE = "unreadable"
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
    REMINDER = "reminder"
    EXHAUSTED = "exhausted"
    KEY_CODE_REVEALED = "key_code_revealed"
    RESOLVED = "resolved"
    DEVICE_BACK = "device_back"
    RESIDENT_FINE = "resident_fine"
    RESIDENT_HELP = "resident_help"
    CALL = "call"
    # Not timeline entries:
    STORED = "stored"  # an ingest batch stored it and intake planned its first step at once
    OUTAGE = "outage"  # supervision counted more offline devices into a mass-outage incident
    RESYNC = "resync"  # not an alert's change: other replicas' notices may be lost, look at all


# Kinds after which an alert may no longer be open (acknowledged, resolved, cancelled by the
# resident, closed by a restore; a resync may hide any of them): its calls end, its sends are void.
CLOSING_KINDS = frozenset({ChangeKind.ACKNOWLEDGED, ChangeKind.RESOLVED, ChangeKind.CANCEL,
                           ChangeKind.CONTACT_STATE, ChangeKind.RESTORED, ChangeKind.RESYNC})


@dataclass(frozen=True, slots=True)
class AlertChange:
    """Alert `alert_id` changed in the way `kind` says."""

    alert_id: int
    kind: ChangeKind
    # committed by another replica (its stored alarm's due time is ours to know); not part of
    # equality: the same change, wherever it was made
    remote: bool = field(default=False, compare=False)
    # made by this process's escalation engine in a step: the engine looks again by itself and
    # tells the dispatcher what it queued, so neither needs waking for it (the board and the
    # other replicas still hear of it)
    by_step: bool = field(default=False, compare=False)


Listener = Callable[[AlertChange], Awaitable[None]]
_Key = tuple[int, ChangeKind, bool, bool]  # (alert, kind, remote, by_step)


class _Subscription:
    """One listener: its queue of notices and the task that hands them over, one at a time, in order."""

    def __init__(self, listener: Listener, *, remote: bool, limit: int,
                 dropped: Counter | None) -> None:
        self.listener = listener
        self.limit = limit
        self.remote = remote  # also wants changes made by other replicas
        self.name = getattr(listener, "__qualname__", type(listener).__name__)
        self._dropped = dropped
        self._queue: OrderedDict[_Key, AlertChange] = OrderedDict()
        self.task: asyncio.Task[None] | None = None

    def offer(self, change: AlertChange) -> None:
        """Queue `change` and make sure a task delivers it; never waits."""
        key = (change.alert_id, change.kind, change.remote, change.by_step)
        if key in self._queue:
            return  # the queued one still tells the listener to look
        if len(self._queue) >= self.limit:
            if self._dropped is not None:
                self._dropped.labels(listener=self.name).inc()
            log.error("alert listener too slow, change dropped",
                      extra={"listener": self.name, "alert_id": change.alert_id})
            return
        self._queue[key] = change
        if self.task is None:
            self.task = asyncio.create_task(self._deliver(), name=f"bus:{self.name}")

    async def _deliver(self) -> None:
        try:
            while self._queue:
                _, change = self._queue.popitem(last=False)
                try:
                    await self.listener(change)
                except Exception:
                    log.exception("alert listener failed",
                                  extra={"listener": self.name, "alert_id": change.alert_id})
        finally:
            self.task = None  # no await since the queue was seen empty: nothing slips past


class AlertBus:
    """Fan-out of committed alert changes to listeners, each through its own queue and task."""

    def __init__(self, dropped: Counter | None = None, *, limit: int = QUEUE_MAX) -> None:
        self._subscriptions: list[_Subscription] = []
        self._dropped = dropped
        self._limit = limit

    def subscribe(self, listener: Listener, *, remote: bool = True) -> Callable[[], None]:
        """Add a listener; `remote=False`: only changes made in this process. Returns an unsubscribe."""
        subscription = _Subscription(listener, remote=remote, limit=self._limit,
                                     dropped=self._dropped)
        self._subscriptions.append(subscription)
        return lambda: self._subscriptions.remove(subscription)

    async def publish(self, change: AlertChange) -> None:
        """A change committed here: queue it for every listener; returns without waiting for any."""
        for subscription in list(self._subscriptions):
            subscription.offer(change)

    def deliver_remote(self, change: AlertChange) -> None:
        """A change committed by another replica: queue it for the listeners that want those."""
        change = AlertChange(change.alert_id, change.kind, remote=True)
        for subscription in list(self._subscriptions):
            if subscription.remote:
                subscription.offer(change)

    def resync(self) -> None:
        """Other replicas' notices may have been missed: every remote listener looks at everything."""
        self.deliver_remote(AlertChange(0, ChangeKind.RESYNC))

    async def drain(self, within: float) -> bool:
        """Wait (at most `within` seconds) until every queued change is delivered; True if done."""
        try:
            async with asyncio.timeout(within):
                while tasks := [s.task for s in self._subscriptions if s.task is not None]:
                    await asyncio.wait(tasks)
        except TimeoutError:
            return False
        return True
