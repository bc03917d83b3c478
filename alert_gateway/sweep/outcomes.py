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
from ..metrics import Metrics
from ..wellbeing.check_call import CheckAnswer

ACTOR = "sweep"
ANSWERS = {CheckAnswer.FINE: EntryState.FINE, CheckAnswer.HELP: EntryState.HELP}
_HOW = {AnsweredBy.CALL: "pressed 9 on the disaster sweep call",
        AnsweredBy.LINK: "tapped 'I need help' on the disaster sweep SMS link",
        AnsweredBy.LINE: "tapped 'I need help' on the disaster sweep LINE message"}
_RAISES = {
    EntryState.HELP: (AlarmType.SWEEP_HELP, "resident {how}"),
    EntryState.NOT_REACHED: (AlarmType.SWEEP_UNREACHED,
                             "disaster sweep: not reached ({tries} calls), please look in"),
    EntryState.NO_PHONE: (AlarmType.SWEEP_UNREACHED,
                          "disaster sweep: no phone to call, please look in"),
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
    alarm_type, message = _RAISES[state]
    how = _HOW[AnsweredBy(entry.answered_by or AnsweredBy.CALL.value)]
    entry.alert_id, change = await raise_for_resident(
        session, entry.resident_id, alarm_type, now=now, actor=ACTOR,
        message=message.format(tries=entry.tries, how=how),
        data={"sweep_id": entry.sweep_id, "sweep_entry_id": entry.id})
    return [change]
