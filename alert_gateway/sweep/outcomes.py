"""Settling a resident in a sweep: fine, help (a P1 alert) or not reached (an alert whose
policy asks the neighbour volunteer and family to look in).

Runs in the caller's transaction (a keypress webhook, a tap on the sweep SMS's link, or a runner
tick) and returns the alert changes to publish after its commit.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, update
from sqlmodel.ext.asyncio.session import AsyncSession

from devices.contract import AlarmType

from ..alerts.opening import raise_for_resident
from ..bus import AlertChange
from ..db.models import AnsweredBy, AttemptStatus, EntryState, NotificationAttempt, SweepEntry
from ..i18n.said import say
from ..metrics import Metrics
from ..wellbeing.check_call import CheckAnswer

ACTOR = "sweep"
ANSWERS = {CheckAnswer.FINE: EntryState.FINE, CheckAnswer.HELP: EntryState.HELP}
_HELP_BY = {AnsweredBy.CALL: "timeline.check.sweep_help",
            AnsweredBy.LINK: "timeline.check.sweep_help_link",
            AnsweredBy.LINE: "timeline.check.sweep_help_line"}
_RAISES = {  # the alert a final state raises, and why (for HELP: how they answered, _HELP_BY)
    EntryState.HELP: (AlarmType.SWEEP_HELP, None),
    EntryState.NOT_REACHED: (AlarmType.SWEEP_UNREACHED, "timeline.check.sweep_unreached"),
    EntryState.NO_PHONE: (AlarmType.SWEEP_UNREACHED, "timeline.check.sweep_no_phone"),
}


async def answer(session: AsyncSession, entry: SweepEntry, given: CheckAnswer, *, by: AnsweredBy,
                 now: datetime, metrics: Metrics) -> list[AlertChange]:
    """The one acceptance path of a resident's answer, a key on the call or a tap on the SMS's
    link or the LINE message: fine or help, and no more tries. Answered by a tap, a call still
    unsent is not placed."""
    if EntryState(entry.state).is_final or given not in ANSWERS:
        return []
    entry.answered_by = by.value
    if by is not AnsweredBy.CALL and entry.attempt_id is not None:
        await session.exec(  # type: ignore[call-overload]
            update(NotificationAttempt)
            .where(col(NotificationAttempt.id) == entry.attempt_id,
                   col(NotificationAttempt.status) == AttemptStatus.PENDING.value)
            .values(status=AttemptStatus.CANCELED.value, finished_at=now)
            .execution_options(synchronize_session=False))
    return await finish(session, entry, ANSWERS[given], now=now, metrics=metrics)


async def finish(session: AsyncSession, entry: SweepEntry, state: EntryState, *,
                 now: datetime, metrics: Metrics) -> list[AlertChange]:
    """Settle the entry with `state`; help and not reached open an alert the normal way."""
    if EntryState(entry.state).is_final:
        return []  # a second keypress, or a late look at an entry already settled
    entry.state, entry.finished_at, entry.updated_at = state.value, now, now
    if state in (EntryState.FINE, EntryState.HELP):
        entry.answered_at = now
    metrics.sweep_answers.labels(state=state.value).inc()
    if state not in _RAISES:
        return []
    alarm_type, key = _RAISES[state]
    key = key or _HELP_BY[AnsweredBy(entry.answered_by or AnsweredBy.CALL.value)]
    entry.alert_id, change = await raise_for_resident(
        session, entry.resident_id, alarm_type, now=now, actor=ACTOR,
        said=say(key, tries=entry.tries),
        data={"sweep_id": entry.sweep_id, "sweep_entry_id": entry.id})
    return [change]
