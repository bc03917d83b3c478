"""A key pressed on a wellbeing call: applied at once, in the webhook's transaction.

1 closes the window as fine; 9 opens the P2 alert without waiting for the scheduler's next look.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..bus import AlertChange
from ..db.models import NotificationAttempt, Resident, WellbeingCall, WellbeingState
from ..i18n import language_of
from ..metrics import Metrics
from . import check_call
from .check_call import CheckAnswer
from .outcomes import finish

_STATES = {CheckAnswer.FINE: WellbeingState.FINE, CheckAnswer.HELP: WellbeingState.HELP}
# The window the call was placed for, with its resident's language: by ix_wellbeing_call_attempt_id
WINDOW_OF_ATTEMPT = (select(WellbeingCall, Resident.language)
                     .join(Resident, col(Resident.id) == col(WellbeingCall.resident_id))
                     .where(col(WellbeingCall.attempt_id) == bindparam("attempt_id")))


@dataclass
class Pressed:
    """What to say back, in which language, and the alert changes to publish after commit."""

    say: str
    language: str
    changes: list[AlertChange] = field(default_factory=list)


async def keypress(session: AsyncSession, attempt: NotificationAttempt, digits: str, *,
                   now: datetime, metrics: Metrics) -> Pressed:
    """Settle the call and its window by the key; another key is heard as no answer."""
    found = (await session.exec(WINDOW_OF_ATTEMPT, params={"attempt_id": attempt.id})).first()
    call, spoken = found if found is not None else (None, None)
    language = language_of(spoken)
    answer = check_call.press(attempt, digits, now=now, metrics=metrics)
    pressed = Pressed(check_call.reply(answer, language), language)
    if call is not None and answer is not None and call.state == WellbeingState.CALLING.value:
        metrics.wellbeing_calls.labels(result=answer.value).inc()
        pressed.changes = await finish(session, call, _STATES[answer], now=now, metrics=metrics)
    return pressed
