"""The answer page of a resident's sweep SMS link (the same /r/{token} page as alert links):
無事です / 助けが必要, applied through the sweep's one acceptance path (sweep.outcomes.answer),
exactly as pressing 1 / 9 on the call."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from ..bus import AlertChange
from ..db.models import AnsweredBy, EntryState, Resident, Sweep, SweepEntry
from ..i18n import language_of, t
from ..metrics import Metrics
from ..sweep import outcomes, texts
from ..wellbeing.check_call import CheckAnswer
from .answer_view import Page, plain

SWEEP_CHOICES = (CheckAnswer.FINE.value, CheckAnswer.HELP.value)


async def sweep_page(session: AsyncSession, token: str, *, now: datetime, zone: ZoneInfo,
                     centre: str, metrics: Metrics, verb: str | None) -> Page:
    """Load the sweep link's rows, apply a POSTed answer, and say what the page shows."""
    link = await texts.find(session, token)
    # an answer locks the entry (PostgreSQL): a key on the call in another replica waits for it
    entry = await session.get(SweepEntry, link.entry_id, with_for_update=verb is not None,
                              populate_existing=True) if link is not None else None
    sweep = await session.get(Sweep, entry.sweep_id) if entry is not None else None
    resident = await session.get(Resident, entry.resident_id) if entry is not None else None
    if link is None or entry is None or sweep is None or resident is None:
        return plain("invalid", 404)
    if not EntryState(entry.state).is_final and now >= link.expires_at:
        return plain("expired", 410)
    lang = language_of(resident.language)
    message: str | None = None
    status, changes = 200, list[AlertChange]()
    if verb is not None and (EntryState(entry.state).is_final or verb not in SWEEP_CHOICES):
        message = t(lang, "page.already") if link.answer == verb else None  # a replayed form
        status = 409
    elif verb is not None:
        changes = await outcomes.answer(session, entry, CheckAnswer(verb), by=AnsweredBy.LINK,
                                        now=now, metrics=metrics)
        link.answer, link.answered_at = verb, now
    state = EntryState(entry.state)
    notice = (texts.message_in(sweep, lang) if not state.is_final
              else t(lang, texts.answered_key(state)))
    return Page(
        lang=lang, heading=t(lang, "page.sweep_heading", centre=centre),
        when=t(lang, "page.sweep_when", time=sweep.created_at.astimezone(zone).strftime("%m/%d %H:%M")),
        address="", notice=notice, choices=() if state.is_final else SWEEP_CHOICES,
        message=message, status=status, changes=changes,
        answered=verb is not None and status == 200)
