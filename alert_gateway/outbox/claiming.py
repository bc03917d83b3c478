"""Claiming outbox rows for sending: the lease, and the per-contact cap that may defer a row.

One rule for both claimers: the dispatcher claiming PENDING rows, and intake claiming the first
sends of an alarm in the very transaction that stores it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import BindParameter, Select, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from devices.contract import Severity

from ..db.inlists import any_of
from ..db.models import AttemptStatus, NotificationAttempt, NotifyChannel, Purpose, Target
from ..settings import Settings

URGENT_RANK = Severity.P2.rank  # this priority and more urgent: claimed by intake, first in a storm


class Claimable(Protocol):
    """An outbox row to claim: a loaded one (the dispatcher) or one being planned (intake)."""

    target: str
    purpose: str
    channel: str
    to_number: str
    status: str
    not_before: datetime
    deadline_at: datetime | None


Row = TypeVar("Row", bound=Claimable)


def lease_of(settings: Settings) -> timedelta:
    """How long a claimed attempt stays ours without renewal.

    Comfortably longer than one request (bounded by the timeout) plus writing its result; the
    holder renews it every third of it, so only a dead process's lease expires.
    """
    return timedelta(seconds=settings.twilio_timeout_seconds * 3)


async def claim(session: AsyncSession, rows: Sequence[Row], *, now: datetime,
                settings: Settings, counts: dict[str, int] | None = None) -> list[Row]:
    """Mark `rows` (most urgent first) SENDING under a lease, except those over a contact's cap,
    which wait for the cap window; returns the claimed rows. `counts`: `cap_counts` for their
    numbers, read earlier in this transaction. The caller commits."""
    capped = await over_cap(session, rows, now=now, settings=settings, counts=counts)
    claimed: list[Row] = []
    for row, over in zip(rows, capped, strict=True):
        if over:
            row.not_before = now + timedelta(seconds=settings.contact_cap_window_seconds)
        else:
            row.status = AttemptStatus.SENDING.value
            row.deadline_at = now + lease_of(settings)
            claimed.append(row)
    return claimed


def cap_counts(numbers: Collection[str], *, now: datetime, settings: Settings) -> Select[Any]:
    """(number, alerts sent to it in the cap window) for these numbers, those with any."""
    return counted_since(numbers, cap_since(now, settings))


def cap_since(now: datetime, settings: Settings) -> datetime:
    """Where the contact cap's window begins."""
    return now - timedelta(seconds=settings.contact_cap_window_seconds)


def counted_since(numbers: Collection[str] | str, since: datetime | BindParameter[Any]) -> Select[Any]:
    """`cap_counts` from `since` (values, or for a statement built once the name of the numbers'
    list parameter and the parameter of `since`)."""
    n = NotificationAttempt.__table__.c  # type: ignore[attr-defined]
    listed = any_of(n.to_number, numbers) if isinstance(numbers, str) else n.to_number.in_(numbers)
    return (select(n.to_number, func.count().label("sent"))
            .where(listed, n.purpose == Purpose.ALERT.value,
                   n.channel != NotifyChannel.LINE.value,
                   # a request in flight has no sent_at yet, but it counts; so does one whose
                   # status callback (filling in its sid) committed before its result
                   (n.sent_at >= since) | (n.status == AttemptStatus.SENDING.value)
                   | (n.sent_at.is_(None) & n.provider_sid.is_not(None) & (n.created_at >= since)))
            .group_by(n.to_number))


async def over_cap(session: AsyncSession, rows: Sequence[Claimable], *, now: datetime,
                   settings: Settings, counts: dict[str, int] | None = None) -> list[bool]:
    """For each row: would it give a contact more than `contact_cap_per_window` alerts in the window?

    Rows need not be written yet: those of `rows` count as they come, in order. `counts`: what
    `cap_counts` read earlier in this transaction (0 for a number it found nothing for); read
    here unless it has every number.
    """
    numbers = {r.to_number for r in rows if _capped_kind(r)}
    if not numbers:
        return [False] * len(rows)
    if counts is None or not numbers <= counts.keys():
        with session.no_autoflush:  # rows being planned are not in the count: counted below instead
            counts = dict((await session.exec(  # type: ignore[call-overload]
                cap_counts(numbers, now=now, settings=settings))).all())
    else:
        counts = dict(counts)  # counted on below for this claim only
    capped: list[bool] = []
    for row in rows:
        over = False
        if _capped_kind(row):
            counts[row.to_number] = counts.get(row.to_number, 0) + 1
            over = counts[row.to_number] > settings.contact_cap_per_window
        capped.append(over)
    return capped


def _capped_kind(row: Claimable) -> bool:
    # LINE rides along with a step's SMS and call: it must not use up the cap they count against
    return (row.target == Target.CONTACT.value and row.purpose == Purpose.ALERT.value
            and row.channel != NotifyChannel.LINE.value)
