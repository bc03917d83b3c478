"""The first escalation step of stored alarms, planned in the transaction that stores them.

Storing a batch, planning each new (or restarted) escalation's first step with the engine's own
planner, and claiming its urgent sends is one commit. After that commit (and the PUBACK) the
claimed attempts go straight to the dispatcher in memory. The database stays the truth: after a
crash, lease recovery sends what was claimed and not recorded.

Only P1 and P2 escalations are planned here; in a storm only each person's first channel is
claimed (the SMS beside a call waits in the outbox, committed in the same transaction). P3/P4
ones are left due for the engine (woken at once), whose sends go to the outbox PENDING: storing a
storm does not pay for their planning, and while alarms already read wait to be stored the
dispatcher's claim takes only P1/P2 rows, so the P3s of an early batch wait behind the P1s stored
after them instead of taking send slots and the account rate first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.inlists import any_of, one_of
from ..db.models import NotificationAttempt
from ..outbox.backlog import Backlog
from ..outbox.claiming import URGENT_RANK, claim
from ..settings import Settings
from .hooks import ESCALATION, OPEN_STATES
from .steprows import NewAttempt, OpenedRows, StepRows
from .steps import Stepper

if TYPE_CHECKING:
    from ..outbox.dispatch import Dispatcher
    from .engine import EscalationEngine


@dataclass
class FirstSteps:
    """What intake planned inside a batch's transaction, to hand over after its commit."""

    claimed: list[NotificationAttempt] = field(default_factory=list)
    left_pending: int = 0
    next_due_at: datetime | None = None


class Intake:
    """Plans and claims inside the storing transaction; hands over to the dispatcher after commit."""

    def __init__(self, settings: Settings, stepper: Stepper, dispatcher: Dispatcher,
                 engine: EscalationEngine, *, lock_rows: bool) -> None:
        self.settings = settings
        self.stepper = stepper
        self.dispatcher = dispatcher
        self.engine = engine
        self._lock_rows = lock_rows

    async def plan(self, session: AsyncSession, alert_ids: Sequence[int], *, now: datetime,
                   storm: bool = False, opened: OpenedRows | None = None) -> FirstSteps:
        """Run the due step of these alerts' escalations (new, restarted, out of their guard).
        `storm`: a storm waits to be stored (each person's first channel is claimed only).
        `opened`: the alerts the batch opened, whose escalation and entries are written here."""
        opened = opened or OpenedRows()
        rows = StepRows.after(opened)
        due = opened.due(now) + await self._due_others(
            session, [i for i in alert_ids if i not in opened.alerts], now=now)
        urgent = sorted((e for e in due if e.severity_rank <= URGENT_RANK), key=lambda e: e.alert_id)
        if not urgent:
            await rows.write(session, None)
            return FirstSteps(next_due_at=now if due else None)
        outcome = await self.stepper.run(
            session, urgent, now=now, rows=rows, opened=opened.alerts, people=opened.people,
            claim=lambda s, planned: self._claim_urgent(s, planned, now=now, storm=storm,
                                                        counts=rows.cap_counts))
        next_due = now if len(urgent) < len(due) else outcome.next_due_at  # the rest: the engine
        # The step's timeline notes need no bus notice of their own: the batch's `stored` notice
        # for the same alerts follows, and it must not wake the engine again.
        return FirstSteps(outcome.claimed, outcome.queued - len(outcome.claimed), next_due)

    async def _due_others(self, session: AsyncSession, alert_ids: list[int], *,
                          now: datetime) -> list[Any]:
        """The due escalations of alerts opened before this transaction (attached to, restarted)."""
        if not alert_ids:
            return []
        query = (select(ESCALATION)
                 .where(any_of(ESCALATION.c.alert_id, "alert_ids"), one_of(ESCALATION.c.state, OPEN_STATES),
                        ESCALATION.c.next_due_at <= now))
        if self._lock_rows:  # one another replica's engine holds is due anyway: it runs it
            query = query.with_for_update(skip_locked=True)
        return list((await session.exec(query, params={"alert_ids": alert_ids})).all())  # type: ignore[call-overload]

    async def _claim_urgent(self, session: AsyncSession, planned: list[NewAttempt], *,
                            now: datetime, storm: bool,
                            counts: dict[str, int] | None) -> list[NewAttempt]:
        """Claim the due sends; in a storm only each person's first channel (the call before the
        SMS beside it), their further channels staying PENDING in the same commit for the
        outbox's claim. Handed-over sends go before anything the dispatcher claims, so every
        P1's people are reached once before anyone gets a second channel (7,500 requests, not
        15,000, until the last P1 of a 10,000-alarm storm). `counts`: the contact cap's counts
        read with the step's inputs."""
        due = sorted((a for a in planned if a.not_before <= now), key=lambda a: a.priority)
        if storm:
            first: dict[tuple[int, str], NewAttempt] = {}
            for attempt in due:
                first.setdefault((attempt.alert_id, attempt.to_number), attempt)
            due = list(first.values())
        return await claim(session, due, now=now, settings=self.settings, counts=counts)

    def hand_over(self, first: FirstSteps, *, backlog: Backlog) -> None:
        """After commit: the claimed sends to the dispatcher, the next look to the engine.
        `backlog`: what already read waits to be stored."""
        self.dispatcher.submit(first.claimed, backlog=backlog)
        if first.left_pending:
            self.dispatcher.poke()
        self.engine.note_due(first.next_due_at)
