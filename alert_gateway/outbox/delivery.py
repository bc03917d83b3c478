"""One claimed attempt's delivery: ask about an unanswered earlier request, send, record."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from ..bus import AlertBus
from ..clock import Clock
from ..db.engine import SessionFactory
from ..db.groupcommit import GroupCommit
from ..db.models import NotificationAttempt
from ..line.client import LineSender
from ..metrics import Metrics
from ..settings import Settings
from ..twilio.client import ProviderResult, TwilioSender
from ..unit_of_work import publish
from . import results, timeouts
from .sending import request

log = logging.getLogger(__name__)
RECORD_TRIES = 3  # a result we got must be written: a lost write would send the attempt again


class Delivery:
    """Sends one attempt (Twilio or LINE) and writes what came of it."""

    def __init__(self, settings: Settings, clock: Clock, sessions: SessionFactory, bus: AlertBus,
                 metrics: Metrics, writes: GroupCommit, sender: TwilioSender,
                 line: LineSender) -> None:
        self._settings = settings
        self._clock = clock
        self._sessions = sessions
        self._bus = bus
        self._metrics = metrics
        self._writes = writes
        self._sender = sender
        self._line = line
        self._requesting: Counter[int | None] = Counter()  # requests in flight, by alert
        self.sweep_call_ended: Callable[[], None] = lambda: None  # the sweep runner's poke (wiring)

    async def deliver(self, attempt: NotificationAttempt) -> results.Recorded:
        """One API call; the outcome is written in a transaction shared with other results."""
        assert attempt.id is not None
        # Its last request got no answer? Ask Twilio before sending again (issue 12).
        found = await timeouts.sent_already(
            self._sender, attempt, sessions=self._sessions, writes=self._writes, clock=self._clock,
            public_url=self._settings.public_url)
        self._requesting[attempt.alert_id] += 1
        try:
            result = found or await request(self._sender, attempt, base=self._settings.public_url,
                                            voice_for=self._settings.voice_for, line=self._line)
        finally:
            self._requesting[attempt.alert_id] -= 1
        # Taken while a sibling's request (the SMS beside the call) is still out: this record
        # may wait (up to LINGER) for the sibling's, whose arrival starts one commit for both.
        # A failure's record never waits: it makes the next step due.
        can_wait = (isinstance(result, ProviderResult) and attempt.alert_id is not None
                    and self._requesting[attempt.alert_id] > 0)
        if not self._requesting[attempt.alert_id]:
            del self._requesting[attempt.alert_id]
        for tries in range(RECORD_TRIES):
            try:
                return await self._record(attempt.id, attempt.channel, result, attempt.body,
                                          can_wait=can_wait)
            except (SQLAlchemyError, OSError) as exc:
                if tries == RECORD_TRIES - 1:
                    raise
                log.warning("dispatcher: could not record a send, retrying: %s", exc)
                await asyncio.sleep(0.2 * 2 ** tries)
        raise AssertionError("unreachable")

    async def _record(self, attempt_id: int, channel: str, result: ProviderResult | Exception,
                      sent_body: str | None, *, can_wait: bool) -> results.Recorded:
        now = self._clock.now()  # when the answer came, also when it waited for company
        recorded = await results.record_alone(  # the common case: one statement
            self._writes, attempt_id, result, channel=channel, now=now, sent_body=sent_body,
            can_wait=can_wait)
        if recorded is None:
            recorded = await self._writes.run(
                lambda session: results.record(session, attempt_id, result, now=now,
                                               metrics=self._metrics, sent_body=sent_body),
                can_wait=can_wait)
        if recorded.first_latency is not None:
            severity, seconds = recorded.first_latency
            self._metrics.first_notification_seconds.labels(severity=severity).observe(seconds)
        # Shared with other callers' work in one transaction (the group commit), so not a unit of
        # work of its own: its changes go out after that shared commit.
        await publish(self._bus, recorded.changes)
        if recorded.sweep_call_ended:  # its place is free for the sweep's next call
            self.sweep_call_ended()
        return recorded
