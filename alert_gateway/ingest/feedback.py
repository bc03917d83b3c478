"""Bus listener: tells the resident's device that help is coming, from whichever channel it came."""

from __future__ import annotations

import logging

from devices.contract import FeedbackState

from ..bus import AlertChange, ChangeKind
from ..db.engine import SessionFactory
from ..db.models import AckChannel, Alert
from ..metrics import Metrics
from .batch import Receipt
from .receipts import FeedbackPublisher

log = logging.getLogger(__name__)
CONTACT_CHANNELS = (AckChannel.SMS.value, AckChannel.VOICE.value, AckChannel.LINK.value,
                    AckChannel.LINE.value)


class DeviceFeedback:
    """Publishes acknowledged / help_on_the_way / resolved on the device's feedback topic."""

    def __init__(self, sessions: SessionFactory, publisher: FeedbackPublisher, metrics: Metrics) -> None:
        self._sessions = sessions
        self._publisher = publisher
        self._metrics = metrics
        self._timed: set[int] = set()  # alerts whose time-to-acknowledge is already observed

    async def on_change(self, change: AlertChange) -> None:
        """Bus listener; runs after the change is committed."""
        states = self._states(change.kind)
        if not states:
            return
        async with self._sessions() as session:
            alert = await session.get(Alert, change.alert_id)
        if alert is None:
            return
        if change.kind is ChangeKind.ACKNOWLEDGED:
            self._observe_ack(alert)
            if alert.ack_channel in CONTACT_CHANNELS:  # a person said "I'm going"
                states = [FeedbackState.ACKNOWLEDGED, FeedbackState.HELP_ON_THE_WAY]
        if not alert.device_id or not alert.source_message_id:
            return
        receipt = Receipt(alert.device_id, alert.source_message_id, alert.id)
        for state in states:
            if not await self._publisher.send(receipt, state):
                log.warning("device feedback not sent", extra={"alert_id": alert.id,
                                                               "state": state.value})

    @staticmethod
    def _states(kind: ChangeKind) -> list[FeedbackState]:
        return {
            ChangeKind.ACKNOWLEDGED: [FeedbackState.ACKNOWLEDGED],
            ChangeKind.ARRIVED: [FeedbackState.HELP_ON_THE_WAY],
            ChangeKind.RESOLVED: [FeedbackState.RESOLVED],
        }.get(kind, [])

    def _observe_ack(self, alert: Alert) -> None:
        if alert.id is None or alert.acknowledged_at is None or alert.id in self._timed:
            return
        if len(self._timed) > 100_000:  # bounded memory; a repeat observation is harmless
            self._timed.clear()
        self._timed.add(alert.id)
        seconds = (alert.acknowledged_at - alert.opened_at).total_seconds()
        self._metrics.time_to_ack_seconds.labels(
            severity=alert.severity, channel=alert.ack_channel or "unknown").observe(max(0.0, seconds))
