"""Settling a resident in a sweep: fine, help (a P1 alert) or not reached (an alert whose
policy asks the neighbour volunteer and family to look in).

Runs in the caller's transaction (a keypress webhook or a runner tick) and returns the alert
changes to publish after its commit.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from devices.contract import AlarmType

from ..alerts.opening import raise_for_resident
from ..bus import AlertChange
from ..db.models import EntryState, SweepEntry
from ..i18n.said import say
from ..metrics import Metrics

ACTOR = "sweep"
_RAISES = {
    EntryState.HELP: (AlarmType.SWEEP_HELP, "timeline.check.sweep_help"),
    EntryState.NOT_REACHED: (AlarmType.SWEEP_UNREACHED, "timeline.check.sweep_unreached"),
    EntryState.NO_PHONE: (AlarmType.SWEEP_UNREACHED, "timeline.check.sweep_no_phone"),
}


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
    entry.alert_id, change = await raise_for_resident(
        session, entry.resident_id, alarm_type, now=now, actor=ACTOR,
        said=say(key, tries=entry.tries),
        data={"sweep_id": entry.sweep_id, "sweep_entry_id": entry.id})
    return [change]
