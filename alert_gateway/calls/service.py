"""A console call's life on its row and on the alert's timeline; every step is idempotent.

Twilio's callbacks may arrive twice, late or out of order: a step applies only to the state it
expects, and a final state is never left, so a repeated or stale callback changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from ..alerts import queries
from ..db.alerts import AlertEvent, EventKind
from ..db.calls import CallState, ConsoleCall
from ..db.residents import Resident
from ..i18n.said import Said, person
from ..residents import service as residents
from .numbers import Callee, callees, is_emergency

# Twilio's DialCallStatus (twilio.com/docs/voice/twiml/dial#dialcallstatus) to how the call ended.
DIAL_OUTCOMES = {
    "completed": CallState.TALKED, "answered": CallState.TALKED, "busy": CallState.CALLEE_BUSY,
    "no-answer": CallState.CALLEE_NO_ANSWER, "canceled": CallState.CALLEE_NO_ANSWER,
    "failed": CallState.CALLEE_FAILED,
}
UNANSWERED = frozenset({"busy", "no-answer", "failed", "canceled"})  # the operator's own leg


async def callees_of(session: AsyncSession, *, alert_id: int) -> list[Callee]:
    """Every number the alert view offers to call, read from the card now."""
    alert = await queries.get(session, alert_id=alert_id)
    resident = await session.get(Resident, alert.resident_id) if alert.resident_id else None
    contacts = (await residents.contacts_for(session, resident_id=resident.id)
                if resident else [])
    return callees(resident, contacts)


async def callee_of(session: AsyncSession, call: ConsoleCall) -> Callee | None:
    """The call's callee as the card says now (None once the number is gone)."""
    found = await callees_of(session, alert_id=call.alert_id)
    return next((c for c in found if c.key == call.callee), None)


def _note(session: AsyncSession, call: ConsoleCall, key: str, now: datetime,
          **params: Any) -> None:
    """A timeline entry stored as a message key and parameters (shown in each reader's
    language); `message` keeps the English text for the API and logs."""
    said = Said(key, params)
    session.add(AlertEvent(alert_id=call.alert_id, at=now, kind=EventKind.CALL.value,
                           actor=f"operator:{call.operator}", message=said.english,
                           data={**said.data(), "call_id": call.id}))


def _who(call: ConsoleCall, name: str) -> dict[str, str]:
    """The callee as a timeline parameter: by their current name when the page knows them."""
    return person(call.callee, name)


async def start(session: AsyncSession, *, alert_id: int, operator: str, operator_phone: str,
                callee: Callee, now: datetime) -> ConsoleCall:
    """The row and its first timeline entry, committed before Twilio is asked."""
    call = ConsoleCall(alert_id=alert_id, operator=operator, operator_phone=operator_phone,
                       callee=callee.key, created_at=now)
    session.add(call)
    await session.flush()
    _note(session, call, "call.requested", now, who=_who(call, callee.who), number=callee.number,
          operator_phone=operator_phone)
    return call


async def placed(session: AsyncSession, *, call_id: int, sid: str, now: datetime) -> None:
    """Twilio took the request: the operator's phone is ringing."""
    call = await session.get(ConsoleCall, call_id)
    if call is None:
        return
    call.provider_sid = call.provider_sid or sid
    if call.state == CallState.REQUESTED.value:
        call.state = CallState.RINGING_OPERATOR.value


async def not_placed(session: AsyncSession, *, call_id: int, who: str, now: datetime) -> None:
    """Twilio refused the request (or never answered): nothing rings."""
    call = await session.get(ConsoleCall, call_id)
    if call is None or call.state != CallState.REQUESTED.value:
        return
    call.state, call.ended_at = CallState.NOT_PLACED.value, now
    _note(session, call, "call.not_placed", now, who=_who(call, who))


async def _live(session: AsyncSession, call_id: int, sid: str | None) -> ConsoleCall | None:
    """The call named in a callback URL, unless the sid disagrees or it has ended."""
    call = await session.get(ConsoleCall, call_id)
    if call is None or (sid and call.provider_sid and call.provider_sid != sid):
        return None
    if sid and not call.provider_sid:
        call.provider_sid = sid  # the callback beat the API answer
    return None if CallState(call.state).is_final else call


async def operator_answered(session: AsyncSession, *, call_id: int, sid: str | None,
                            now: datetime) -> tuple[ConsoleCall, Callee] | None:
    """The operator picked up: the callee to dial now, or None (nothing to bridge to)."""
    call = await _live(session, call_id, sid)
    if call is None:
        return None
    callee = await callee_of(session, call)
    if callee is None or is_emergency(callee.number):  # the card may have changed since the click
        return None
    if call.state != CallState.CONNECTING.value:
        call.state = CallState.CONNECTING.value
        _note(session, call, "call.connecting", now, who=_who(call, callee.who))
    return call, callee


async def dial_ended(session: AsyncSession, *, call_id: int, sid: str | None, dial_status: str,
                     dial_sid: str | None, seconds: int | None,
                     now: datetime) -> ConsoleCall | None:
    """The <Dial> finished: how the callee answered, and for how long; the call if it ended."""
    call = await _live(session, call_id, sid)
    outcome = DIAL_OUTCOMES.get(dial_status)
    if call is None or outcome is None:
        return None
    callee = await callee_of(session, call)
    who = _who(call, callee.who if callee else "?")
    call.state, call.ended_at, call.dial_sid = outcome.value, now, dial_sid
    if outcome is CallState.TALKED:
        call.talk_seconds = seconds or 0
        minutes, rest = divmod(call.talk_seconds, 60)
        _note(session, call, "call.talked", now, who=who, minutes=minutes, seconds=rest)
    else:
        _note(session, call, f"call.{outcome.value}", now, who=who)
    return call


async def leg_status(session: AsyncSession, *, call_id: int, sid: str | None, status: str,
                     now: datetime) -> ConsoleCall | None:
    """The operator's own leg ended: unanswered, or answered and over with no <Dial> result
    (our answer webhook failed, or its action never reached us); the call if it ended here."""
    call = await _live(session, call_id, sid)
    if call is None or (status not in UNANSWERED and status != "completed"):
        return None
    callee = await callee_of(session, call)
    who = _who(call, callee.who if callee else "?")
    if status in UNANSWERED and call.state != CallState.CONNECTING.value:
        call.state, call.ended_at = CallState.OPERATOR_MISSED.value, now
        _note(session, call, "call.operator_missed", now, who=who,
              operator_phone=call.operator_phone)
    else:  # an answered leg normally ends through the <Dial>'s action, which comes first
        call.state, call.ended_at = CallState.LEG_ENDED.value, now
        _note(session, call, "call.leg_ended", now, who=who)
    return call
