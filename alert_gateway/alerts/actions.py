"""What people do to an alert (acknowledge, take, note, arrive, escalate now, resolve, cancel)
and the status changes alarms and restores make: the one writer of `Alert.status`.

Every verb takes the caller's session and does not commit; the caller's unit of work commits,
then publishes the change on the bus (device feedback and the engine listen there).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.models import (
    AckChannel,
    Alert,
    AlertEvent,
    AlertResponder,
    AlertStatus,
    Contact,
    EventKind,
    Outcome,
    Purpose,
    Resident,
    ResponderState,
)
from ..errors import Conflict, InvalidInput, NotFound
from ..escalation import hooks
from ..i18n.said import Said, person, say, term
from ..outbox import notices


async def _alert(session: AsyncSession, alert_id: int) -> Alert:
    alert = await session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    return alert


def _event(alert_id: int, kind: EventKind, *, now: datetime, actor: str, said: Said,
           **data: object) -> AlertEvent:
    return AlertEvent(alert_id=alert_id, at=now, kind=kind.value, actor=actor, message=said.english,
                      data={**data, **said.data()})


async def _contact_of_resident(session: AsyncSession, alert_id: int, contact_id: int) -> Contact:
    """The contact, if it is one of the alert's resident's: another resident's contact cannot
    acknowledge or arrive (a typo must not record the wrong person as on the way)."""
    alert = await _alert(session, alert_id)
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"no contact {contact_id}")
    if contact.resident_id != alert.resident_id:
        owner = f"resident {alert.resident_id}" if alert.resident_id else "an unregistered device"
        raise InvalidInput(f"contact {contact_id} is not a contact of {owner}, whose alert "
                           f"{alert_id} this is")
    return contact


async def _set_responder(session: AsyncSession, alert_id: int, contact_id: int,
                         state: ResponderState, now: datetime) -> Contact:
    contact = await _contact_of_resident(session, alert_id, contact_id)
    row = await session.get(AlertResponder, (alert_id, contact_id))
    if row is None:
        session.add(AlertResponder(alert_id=alert_id, contact_id=contact_id, state=state.value,
                                   updated_at=now))
    else:
        row.state, row.updated_at = state.value, now
    return contact


async def acknowledge(session: AsyncSession, *, alert_id: int, actor: str, channel: AckChannel,
                      now: datetime, contact_id: int | None = None) -> Alert:
    """Someone takes the alert: escalation stops, those already notified hear who took it."""
    escalation = await hooks.lock_for_close(session, alert_id)
    alert = await _alert(session, alert_id)
    if alert.status == AlertStatus.RESOLVED.value:
        raise Conflict(f"alert {alert_id} is already resolved")
    if alert.acknowledged_at is not None:
        return alert  # idempotent: the first acknowledgement stands
    taker: str | None = None
    if contact_id is not None:
        contact = await _set_responder(session, alert_id, contact_id, ResponderState.ACCEPTED, now)
        taker = contact.name
    alert.status = AlertStatus.ACKNOWLEDGED.value
    alert.acknowledged_at, alert.acknowledged_by, alert.ack_channel = now, actor, channel.value
    alert.updated_at = now
    session.add(_event(alert_id, EventKind.ACKNOWLEDGED, now=now, actor=actor,
                       said=say("timeline.alert.acknowledged", who=person(actor, taker),
                                channel=term(f"channel.{channel.value}")),
                       channel=channel.value, contact_id=contact_id))
    await hooks.watch(session, escalation, alert_id, now=now)
    told = await notices.tell_notified(session, alert=alert, purpose=Purpose.TAKEN_NOTICE, now=now,
                                       exclude=[contact_id] if contact_id else [], taker=taker)
    if told:
        session.add(_event(alert_id, EventKind.NOTIFICATION, now=now, actor="system",
                           said=say("timeline.alert.told_taker", count=told)))
    return alert


async def take(session: AsyncSession, *, alert_id: int, operator: str, now: datetime,
               force: bool = False) -> Alert:
    """An operator takes the case on the console; Conflict if another has it (unless force)."""
    alert = await _alert(session, alert_id)
    if alert.status == AlertStatus.RESOLVED.value:
        raise Conflict(f"alert {alert_id} is already resolved")
    if alert.taken_by == operator:
        return alert
    if alert.taken_by is not None and not force:
        raise Conflict(f"alert {alert_id} is taken by {alert.taken_by}")
    previous = alert.taken_by
    alert.taken_by, alert.taken_at, alert.updated_at = operator, now, now
    who = person(f"operator:{operator}", operator)
    said = (say("timeline.alert.taken_from", who=who,
                previous=person(f"operator:{previous}", previous)) if previous
            else say("timeline.alert.taken", who=who))
    session.add(_event(alert_id, EventKind.TAKEN, now=now, actor=f"operator:{operator}",
                       said=said, previous=previous))
    return alert


async def add_note(session: AsyncSession, *, alert_id: int, actor: str, text: str,
                   now: datetime) -> AlertEvent:
    """A note on the timeline; a key-safe code is never written down (DOMAIN.md)."""
    alert = await _alert(session, alert_id)
    text = text.strip()
    if not text:
        raise InvalidInput("a note needs some text")
    resident = await session.get(Resident, alert.resident_id) if alert.resident_id else None
    if resident is not None and resident.key_safe_code and resident.key_safe_code in text:
        raise InvalidInput("notes must not contain the key-safe code")
    # the operator's own words: kept as written, in no catalogue
    event = AlertEvent(alert_id=alert_id, at=now, kind=EventKind.NOTE.value, actor=actor,
                       message=text[:4000])
    session.add(event)
    await session.flush()
    return event


async def record_arrival(session: AsyncSession, *, alert_id: int, actor: str, now: datetime,
                         contact_id: int | None = None,
                         channel: AckChannel = AckChannel.CONSOLE) -> Alert:
    """A responder is at the home; an alert nobody acknowledged yet counts as taken by them."""
    alert = await _alert(session, alert_id)
    if alert.status == AlertStatus.RESOLVED.value:
        raise Conflict(f"alert {alert_id} is already resolved")
    if alert.acknowledged_at is None:
        await acknowledge(session, alert_id=alert_id, actor=actor, channel=channel,
                          now=now, contact_id=contact_id)
    who = person(actor)
    if contact_id is not None:
        contact = await _set_responder(session, alert_id, contact_id, ResponderState.ARRIVED, now)
        who = person(f"contact:{contact_id}", contact.name)
    alert.updated_at = now
    session.add(_event(alert_id, EventKind.ARRIVED, now=now, actor=actor,
                       said=say("timeline.alert.arrived", who=who), contact_id=contact_id))
    return alert


async def escalate_now(session: AsyncSession, *, alert_id: int, actor: str, now: datetime) -> None:
    """Run the next step now instead of waiting out the current one (or the fall guard)."""
    escalation = await hooks.lock_for_close(session, alert_id)
    await _alert(session, alert_id)
    if escalation is None or escalation.state not in hooks.LIVE_STATES:
        state = escalation.state if escalation else "none"
        raise Conflict(f"alert {alert_id} is not escalating (escalation {state})")
    if hooks.step_now(escalation, now=now):
        # A queued re-dial would hold the step open until it is tried: the operator said go on.
        await notices.cancel_queued_redials(session, alert_id=alert_id, now=now)
    session.add(_event(alert_id, EventKind.ESCALATION_STEP, now=now, actor=actor,
                       said=say("timeline.escalation.next_step_asked", who=person(actor))))


async def resolve(session: AsyncSession, *, alert_id: int, actor: str, outcome: Outcome,
                  now: datetime, note: str | None = None) -> Alert:
    """Close the case with its mandatory outcome; people notified get a short summary."""
    await hooks.lock_for_close(session, alert_id)
    alert = await _alert(session, alert_id)
    if alert.status == AlertStatus.RESOLVED.value:
        raise Conflict(f"alert {alert_id} is already resolved")
    alert.status, alert.outcome, alert.outcome_note = AlertStatus.RESOLVED.value, outcome.value, note
    alert.resolved_at, alert.resolved_by, alert.updated_at = now, actor, now
    session.add(_event(alert_id, EventKind.RESOLVED, now=now, actor=actor,
                       said=say("timeline.alert.resolved", outcome=term(f"outcome.{outcome.value}")),
                       outcome=outcome.value, note=note))
    await hooks.stop(session, alert_id, now=now)
    await notices.tell_notified(session, alert=alert, purpose=Purpose.SUMMARY, now=now,
                                outcome=outcome.value)
    return alert


async def cancel(session: AsyncSession, alert: Alert, *, actor: str, said: Said,
                 now: datetime) -> None:
    """The resident says all is well: the alert stays on the board for an operator, the
    escalation stops (nobody else is called) and those already notified are told."""
    assert alert.id is not None
    await hooks.lock_for_close(session, alert.id)
    alert.status = AlertStatus.CANCELLED.value
    alert.updated_at = now
    session.add(_event(alert.id, EventKind.CANCEL, now=now, actor=actor, said=said))
    await hooks.cancelled(session, alert, now=now)


def reopen(alert: Alert) -> None:
    """A further alarm raised the alert or undid the resident's cancel: it is open again."""
    alert.status = AlertStatus.OPEN.value


async def close_restored(session: AsyncSession, alert: Alert, *, now: datetime) -> None:
    """The technical condition ended by itself: resolved as restored, escalation stopped."""
    assert alert.id is not None
    await hooks.lock_for_close(session, alert.id)
    alert.status, alert.outcome = AlertStatus.RESOLVED.value, Outcome.RESTORED.value
    alert.resolved_at, alert.resolved_by, alert.updated_at = now, "system", now
    await hooks.stop(session, alert.id, now=now)
