"""Read-only views of sweeps: counts per state, the list of residents with who went, and the
gauge of sweeps in progress."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.models import (
    AlertResponder,
    Contact,
    EntryState,
    Resident,
    Sweep,
    SweepEntry,
    SweepState,
)
from ..metrics import Metrics

# A responder who said they would go, or is there: "who went".
WENT = ("accepted", "arrived")


@dataclass(frozen=True)
class Responder:
    """A contact asked to look in, and how far they came."""

    name: str
    relation: str
    state: str


@dataclass
class Row:
    """One resident of a sweep as the sweep page and the CSV show it."""

    entry: SweepEntry
    name: str
    address: str | None
    phone: str | None
    responders: list[Responder] = field(default_factory=list)


def counts_of(states: list[str]) -> dict[str, int]:
    """Residents per state, every state present (zero when none)."""
    out = {state.value: 0 for state in EntryState}
    for state in states:
        out[state] = out.get(state, 0) + 1
    return out


async def counts(session: AsyncSession, *, sweep_id: int) -> dict[str, int]:
    """Residents per state in one sweep."""
    rows = (await session.exec(
        select(SweepEntry.state, func.count()).where(SweepEntry.sweep_id == sweep_id)
        .group_by(col(SweepEntry.state)))).all()
    out = counts_of([])
    out.update({state: n for state, n in rows})
    return out


# What the live page lists first: who needs someone now, then who is being called.
ATTENTION = (EntryState.HELP, EntryState.NOT_REACHED, EntryState.NO_PHONE, EntryState.CALLING,
             EntryState.WAITING, EntryState.FINE)


async def rows(session: AsyncSession, *, sweep_id: int, limit: int, offset: int = 0,
               attention_first: bool = False) -> list[Row]:
    """A page of the sweep's residents in call order (`attention_first`: those who need someone
    first, by `ATTENTION`, each state in call order), each with the contacts asked to look in
    (a city's 10,000 read and rendered at once held the loop for a second: always a page)."""
    query = (select(SweepEntry, Resident)
             .join(Resident, col(Resident.id) == col(SweepEntry.resident_id))
             .where(SweepEntry.sweep_id == sweep_id))
    if attention_first:
        urgency = case({state.value: n for n, state in enumerate(ATTENTION)},
                       value=col(SweepEntry.state), else_=len(ATTENTION))
        query = query.order_by(urgency, col(SweepEntry.rank))
    else:
        query = query.order_by(col(SweepEntry.rank))
    query = query.offset(offset).limit(limit)
    found = (await session.exec(query)).all()
    alert_ids = [e.alert_id for e, _ in found if e.alert_id is not None]
    asked: dict[int, list[Responder]] = defaultdict(list)
    if alert_ids:
        for responder, contact in (await session.exec(
                select(AlertResponder, Contact)
                .join(Contact, col(Contact.id) == col(AlertResponder.contact_id))
                .where(col(AlertResponder.alert_id).in_(alert_ids))
                .order_by(col(Contact.priority)))).all():
            asked[responder.alert_id].append(
                Responder(contact.name, contact.relation, responder.state))
    return [Row(entry, resident.name, resident.address, resident.phone,
                asked.get(entry.alert_id or 0, [])) for entry, resident in found]


async def for_resident(session: AsyncSession, *, resident_id: str,
                       limit: int = 12) -> list[tuple[SweepEntry, Sweep]]:
    """The resident's sweep entries with their sweep, newest first (the resident's page)."""
    return [(entry, sweep) for entry, sweep in (await session.exec(
        select(SweepEntry, Sweep).join(Sweep, col(Sweep.id) == col(SweepEntry.sweep_id))
        .where(SweepEntry.resident_id == resident_id)
        .order_by(col(Sweep.id).desc()).limit(limit))).all()]


async def latest(session: AsyncSession, *, limit: int = 20) -> list[Sweep]:
    """Sweeps newest first (the console's list)."""
    return list((await session.exec(
        select(Sweep).order_by(col(Sweep.id).desc()).limit(limit))).all())


async def refresh_gauge(session: AsyncSession, metrics: Metrics) -> None:
    """Set the progress gauge from the sweeps running or paused."""
    live = select(Sweep.id).where(
        col(Sweep.state).in_([SweepState.RUNNING.value, SweepState.PAUSED.value]))
    found = (await session.exec(  # the few live sweeps first, then their entries by index
        select(SweepEntry.state, func.count())
        .where(col(SweepEntry.sweep_id).in_(live.scalar_subquery()))
        .group_by(col(SweepEntry.state)))).all()
    current = counts_of([])
    current.update({state: n for state, n in found})
    for state, n in current.items():
        metrics.sweep_residents.labels(state=state).set(n)
