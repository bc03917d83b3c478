"""Applying a wellbeing window's result: fine, help (a P2 alert) or not reached (a P3 alert).

Runs in the caller's transaction (a keypress webhook or a scheduler tick) and returns the alert
changes to publish after its commit.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from devices.contract import AlarmType

from ..alerts.opening import raise_for_resident
from ..bus import AlertChange
from ..db.models import WellbeingCall, WellbeingState
from ..i18n.said import say
from ..metrics import Metrics

ACTOR = "wellbeing"
_RAISES = {
    WellbeingState.HELP: (AlarmType.WELLBEING_HELP, "timeline.check.wellbeing_help"),
    WellbeingState.NOT_REACHED: (AlarmType.WELLBEING_UNANSWERED,
                                 "timeline.check.wellbeing_unanswered"),
}


async def finish(session: AsyncSession, call: WellbeingCall, state: WellbeingState, *,
                 now: datetime, metrics: Metrics) -> list[AlertChange]:
    """Close the window with `state`; help and not reached open an alert the normal way."""
    if WellbeingState(call.state).is_final:
        return []  # a second keypress, or a late look at a window already settled
    metrics.wellbeing_checks.labels(outcome=state.value).inc()
    changes: list[AlertChange] = []
    if state in _RAISES:
        alarm_type, key = _RAISES[state]
        call.alert_id, change = await raise_for_resident(
            session, call.resident_id, alarm_type, now=now, actor=ACTOR,
            said=say(key, tries=call.tries), data={"wellbeing_call_id": call.id})
        changes.append(change)
    # set after the alert's reads, which flush what is pending: the window is one UPDATE, not two
    call.state, call.finished_at, call.updated_at = state.value, now, now
    if state in (WellbeingState.FINE, WellbeingState.HELP):
        call.answered_at = now
    return changes
