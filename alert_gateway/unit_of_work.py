"""One transaction and the alert changes it made, published only after it commits.

Listeners (the engine, the dispatcher, device feedback, the live board, the other replicas) act on
a change as soon as they hear of it, so they must never hear of one that could still roll back:
`unit_of_work` is the one place that orders "commit, then publish". Work done in the group commit
(db/groupcommit.py) shares its transaction with other callers' work, so it collects its changes
in its result and its caller publishes them with `publish` after the shared commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

from .bus import AlertBus, AlertChange, ChangeKind
from .db.engine import SessionFactory

R = TypeVar("R")
DEADLOCK_TRIES = 3  # a deadlock victim on PostgreSQL simply runs again


@dataclass
class UnitOfWork:
    """A session and the changes made in it, to be told once it has committed."""

    session: AsyncSession
    changes: list[AlertChange] = field(default_factory=list)

    def changed(self, alert_id: int, kind: ChangeKind) -> None:
        """Alert `alert_id` changed in this transaction: tell the bus after the commit."""
        self.changes.append(AlertChange(alert_id, kind))

    def extend(self, changes: Iterable[AlertChange]) -> None:
        """Changes collected by domain code that runs in this session (the stepper, callbacks)."""
        self.changes.extend(changes)


@asynccontextmanager
async def unit_of_work(sessions: SessionFactory, bus: AlertBus) -> AsyncIterator[UnitOfWork]:
    """Open a session, run the block, commit, then publish what the block collected.

    An exception in the block (or in the commit) rolls back and publishes nothing.
    """
    async with sessions() as session:
        work = UnitOfWork(session)
        yield work
        await session.commit()
    await publish(bus, work.changes)


async def publish(bus: AlertBus, changes: Iterable[AlertChange]) -> None:
    """Tell the bus about changes whose transaction has committed (queues them; never waits)."""
    for change in changes:
        await bus.publish(change)


async def retrying(sessions: SessionFactory, bus: AlertBus,
                   work: Callable[[UnitOfWork], Awaitable[R]]) -> R:
    """`work` in a unit of work, run again if PostgreSQL picks it as a deadlock's victim.

    A backstop: closing an alert and a batch of status callbacks take rows in one order
    (attempts by id, escalation, alert: escalation/hooks.lock_for_close, db/shared.py), so they
    do not deadlock. A reply that closes an alert inside a callback batch (a keypress, an SMS
    "1") still can: it locks that alert's other attempts after the batch took its own. An
    operator's acknowledgement must not fail for it, so the loser runs again (its first try
    rolled back and published nothing).
    """
    for attempt in range(DEADLOCK_TRIES):
        try:
            async with unit_of_work(sessions, bus) as uow:
                result = await work(uow)
            return result
        except DBAPIError as exc:
            if attempt == DEADLOCK_TRIES - 1 or "deadlock" not in str(exc).lower():
                raise
    raise AssertionError("unreachable")
