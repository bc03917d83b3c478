"""A key pressed on a sweep call: applied at once, in the webhook's transaction, through the
acceptance path a tap on the sweep SMS's link takes too (outcomes.answer).

1 settles the resident as fine; 9 opens the P1 alert without waiting for the runner's next look.
Either frees a place for the sweep's next call, so the runner is poked after the commit.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.models import AnsweredBy, EntryState, NotificationAttempt, Resident, SweepEntry
from ..i18n import language_of
from ..metrics import Metrics
from ..wellbeing import check_call
from ..wellbeing.answers import Pressed
from . import outcomes


async def keypress(session: AsyncSession, attempt: NotificationAttempt, digits: str, *,
                   now: datetime, metrics: Metrics) -> Pressed:
    """Settle the call and the resident's entry by the key; another key is heard as no answer."""
    found = (await session.exec(  # the entry locked, as a tap on the link locks it
        select(SweepEntry, Resident.language)
        .join(Resident, col(Resident.id) == col(SweepEntry.resident_id))
        .where(SweepEntry.attempt_id == attempt.id)
        .with_for_update(of=SweepEntry)  # type: ignore[arg-type]
        .execution_options(populate_existing=True))).first()
    entry, spoken = found if found is not None else (None, None)
    language = language_of(spoken)
    answer = check_call.press(attempt, digits, now=now, metrics=metrics)
    pressed = Pressed(check_call.reply(answer, language), language)
    if entry is not None and answer is not None and entry.state == EntryState.CALLING.value:
        pressed.changes = await outcomes.answer(session, entry, answer, by=AnsweredBy.CALL,
                                                now=now, metrics=metrics)
    return pressed
