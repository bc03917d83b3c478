"""Shift handover notes: written at the end of a shift with the open alerts, shown at sign-in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.alerts import ACTIVE_STATUSES, Alert
from ..db.calls import HandoverNote
from ..db.residents import Resident
from ..errors import InvalidInput

NOTE_MAX = 4000
SHOWN = 10  # notes on the handover page, newest first; every note is kept
# Alerts a note names, most urgent first: after a disaster thousands are open, and the board,
# not a note, is where they are worked; the note counts them all.
NAMED = 50


@dataclass(frozen=True)
class OpenAlerts:
    """The most urgent open alerts, as a note keeps them, and how many are open in all."""

    named: list[dict[str, Any]]
    count: int


async def open_alerts(session: AsyncSession) -> OpenAlerts:
    """The alerts still on the board: the first NAMED, most urgent first, and their number."""
    active = col(Alert.status).in_(ACTIVE_STATUSES)
    query = (select(Alert, Resident.name)
             .join(Resident, col(Alert.resident_id) == col(Resident.id), isouter=True)
             .where(active)
             .order_by(col(Alert.severity), col(Alert.opened_at), col(Alert.id)).limit(NAMED))
    named = [{"id": a.id, "type": a.type, "severity": a.severity, "status": a.status,
              "resident": name or "", "taken_by": a.taken_by or ""}
             for a, name in (await session.exec(query)).all()]
    if len(named) < NAMED:
        return OpenAlerts(named, len(named))
    count = (await session.exec(select(func.count()).select_from(Alert).where(active))).one()
    return OpenAlerts(named, count)


async def write(session: AsyncSession, *, author: str, text: str, now: datetime) -> HandoverNote:
    """A new note with the alerts open now. The caller commits."""
    text = text.strip()
    if not text:
        raise InvalidInput("write what the next shift needs to know")
    now_open = await open_alerts(session)
    note = HandoverNote(author=author, text=text[:NOTE_MAX], open_alerts=now_open.named,
                        open_count=now_open.count, created_at=now)
    session.add(note)
    await session.flush()
    return note


async def latest(session: AsyncSession, *, limit: int = SHOWN) -> list[HandoverNote]:
    """The newest notes first."""
    query = select(HandoverNote).order_by(col(HandoverNote.created_at).desc(),
                                          col(HandoverNote.id).desc()).limit(limit)
    return list((await session.exec(query)).all())


async def unread_at_sign_in(session: AsyncSession, *, reader: str,
                            last_sign_in: datetime | None) -> bool:
    """A note by someone else written since the reader last signed in (or ever, the first time)."""
    query = select(HandoverNote.id).where(col(HandoverNote.author) != reader)
    if last_sign_in is not None:
        query = query.where(col(HandoverNote.created_at) > last_sign_in)
    return (await session.exec(query.limit(1))).first() is not None
