"""Twilio status callbacks and keypresses applied to attempts: idempotent, any order, any number."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from functools import cache
from typing import Any

from sqlalchemy import Table, update
from sqlalchemy.sql.dml import Update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from devices.contract import ALARM_TYPES, resolve_alarm_type

from ..alerts import actions
from ..bus import AlertChange, ChangeKind
from ..db import shared
from ..db.models import (
    AckChannel,
    Alert,
    AlertEvent,
    AlertResponder,
    AlertStatus,
    AttemptStatus,
    Contact,
    EventKind,
    NotificationAttempt,
    Purpose,
    Resident,
    ResponderState,
    Target,
)
from ..db.rowset import RowSet
from ..escalation import hooks
from ..i18n import language_of, t
from ..i18n.said import say, term
from ..metrics import Metrics
from ..outbox import forward, notices
from ..outbox.attempts import advance, map_status, settle
from ..outbox.timeouts import answer_unknown, taken_late
from ..sweep import answers as sweep_answers
from ..wellbeing import answers as wellbeing_answers

RESPONDER: Table = AlertResponder.__table__  # type: ignore[attr-defined]


@dataclass
class HookResult:
    """What a webhook changed (published after commit) and what to say back."""

    changes: list[AlertChange] = field(default_factory=list)
    say: str | None = None
    language: str = "ja"
    sweep_call: bool = False  # about a sweep's call: the sweep runner looks at once (a place freed)


async def _attempt(session: AsyncSession, attempt_id: int, sid: str | None, *, now: datetime,
                   metrics: Metrics) -> NotificationAttempt | None:
    """The attempt named in the URL, if the sid agrees (a late callback may fill in the sid).

    Locked on PostgreSQL (in id order with the rest of a group-commit batch, as closing an alert
    locks them), and read afresh: this is the row-by-row path, which decides from what it read,
    and a Core UPDATE earlier in a shared transaction may have changed the row.
    """
    await forward.lock(session, attempt_id)
    row = await session.get(NotificationAttempt, attempt_id, with_for_update=True,
                            populate_existing=True)
    if row is None or (sid and row.provider_sid and row.provider_sid != sid):
        return None
    if sid and not row.provider_sid:
        row.provider_sid = sid  # the callback beat the API answer
        if answer_unknown(row):  # ... or the answer never came: Twilio had it after all
            await taken_late(session, row, now=now, metrics=metrics)
    return row


async def _after_failure(session: AsyncSession, alert_id: int | None, purpose: str, now: datetime,
                         result: HookResult) -> None:
    """A failed escalation attempt makes its escalation due now (no waiting out the timer)."""
    if alert_id is not None and purpose == Purpose.ALERT.value:
        await hooks.poke(session, alert_id, now=now)
        result.changes.append(AlertChange(alert_id, ChangeKind.NOTIFICATION))


async def _moved_on(session: AsyncSession, attempt_id: int, sid: str | None, new: AttemptStatus, *,
                    now: datetime, metrics: Metrics, result: HookResult,
                    error_code: str | None = None, answered_by: str | None = None) -> bool:
    """The common case in one forward-only UPDATE: the attempt, known by its sid, moves on.

    False when it matched nothing (a stale or repeated status, another sid, a request whose
    answer never came): the caller then takes the row-by-row path, which covers those.
    """
    if not sid:
        return False
    moved = await forward.advance(session, attempt_id, new, sid=sid, now=now, metrics=metrics,
                                  error_code=error_code, answered_by=answered_by)
    if moved is None:
        return False
    result.sweep_call = moved.purpose == Purpose.SWEEP.value
    if new.is_failure:
        await _after_failure(session, moved.alert_id, moved.purpose, now, result)
    return True


async def message_status(session: AsyncSession, *, attempt_id: int, sid: str | None, status: str,
                         error_code: str | None, now: datetime, metrics: Metrics) -> HookResult:
    """An SMS status callback (queued, sent, delivered, undelivered, failed)."""
    result = HookResult()
    new = map_status("sms", status)
    if new is None or await _moved_on(session, attempt_id, sid, new, now=now, metrics=metrics,
                                      result=result, error_code=error_code):
        return result
    row = await _attempt(session, attempt_id, sid, now=now, metrics=metrics)
    if row is not None and advance(row, new, now=now, metrics=metrics):
        if error_code:
            row.error_code = error_code
        if new.is_failure:
            await _after_failure(session, row.alert_id, row.purpose, now, result)
    return result


async def call_status(session: AsyncSession, *, attempt_id: int, sid: str | None, status: str,
                      answered_by: str | None, now: datetime, metrics: Metrics) -> HookResult:
    """A call progress callback; "completed" without a keypress is not reached."""
    result = HookResult()
    new = map_status("voice", status)
    if new is None or await _moved_on(session, attempt_id, sid, new, now=now, metrics=metrics,
                                      result=result, answered_by=answered_by):
        return result
    row = await _attempt(session, attempt_id, sid, now=now, metrics=metrics)
    if row is None:
        return result
    result.sweep_call = row.purpose == Purpose.SWEEP.value
    if answered_by and not row.answered_by:
        row.answered_by = answered_by
    if advance(row, new, now=now, metrics=metrics) and new.is_failure:
        await _after_failure(session, row.alert_id, row.purpose, now, result)
    return result


async def amd(session: AsyncSession, *, attempt_id: int, sid: str | None, answered_by: str,
              now: datetime, metrics: Metrics) -> HookResult:
    """Answering-machine detection: anything but a human is not reached; a human has answered."""
    result = HookResult()
    if answered_by == "human" and sid:  # the common case: two UPDATEs, nothing loaded
        named = await forward.answered_by(session, attempt_id, sid, answered_by)
        if named is not None:
            if named.contact_id is not None and named.alert_id is not None:
                await _answered(session, named.alert_id, named.contact_id, now)
            return result
    row = await _attempt(session, attempt_id, sid, now=now, metrics=metrics)
    if row is None:
        return result
    row.answered_by = answered_by
    if answered_by != "human":
        if advance(row, AttemptStatus.NOT_REACHED, now=now, metrics=metrics):
            await _after_failure(session, row.alert_id, row.purpose, now, result)
    elif row.contact_id is not None and row.alert_id is not None:
        await _answered(session, row.alert_id, row.contact_id, now)
    return result


_ANSWERS = RowSet("answered", (("alert_id", RESPONDER.c.alert_id.type),
                               ("contact_id", RESPONDER.c.contact_id.type),
                               ("now", RESPONDER.c.updated_at.type)))


@cache
def _answered_statement(dialect: str) -> Update:
    v = _ANSWERS.source(dialect).c
    return (update(RESPONDER)
            .where(RESPONDER.c.alert_id == v.alert_id, RESPONDER.c.contact_id == v.contact_id,
                   RESPONDER.c.state == ResponderState.NOTIFIED.value)
            .values(state=ResponderState.ANSWERED.value, updated_at=v.now))


async def _run_answered(session: AsyncSession, rows: list[shared.Row]) -> dict[Hashable, Any]:
    dialect = session.get_bind().dialect
    await session.exec(_answered_statement(dialect.name),  # type: ignore[call-overload]
                       params=_ANSWERS.params(dialect, [r[1:] for r in rows]))
    return {}


ANSWERED = shared.Kind("responder answered", (shared.RESPONDERS, 0), _run_answered)


async def _answered(session: AsyncSession, alert_id: int, contact_id: int, now: datetime) -> None:
    """A person picked up: a contact still only notified has answered (forward only)."""
    await shared.ask(session, ANSWERED, ((alert_id, contact_id), alert_id, contact_id, now))


async def keypress(session: AsyncSession, *, attempt_id: int, sid: str | None, digits: str,
                   now: datetime, tz: tzinfo, metrics: Metrics) -> HookResult:
    """A key pressed at the Gather: 1 accept / 2 decline; the resident's 1 fine / 9 help."""
    row = await _attempt(session, attempt_id, sid, now=now, metrics=metrics)
    if row is not None and row.purpose == Purpose.WELLBEING.value:
        pressed = await wellbeing_answers.keypress(session, row, digits, now=now, metrics=metrics)
        return HookResult(changes=pressed.changes, say=pressed.say, language=pressed.language)
    if row is not None and row.purpose == Purpose.SWEEP.value:
        pressed = await sweep_answers.keypress(session, row, digits, now=now, metrics=metrics)
        return HookResult(changes=pressed.changes, say=pressed.say, language=pressed.language,
                          sweep_call=True)
    if row is None or row.alert_id is None:
        return HookResult(say=t("ja", "voice.invalid"))
    alert = await session.get(Alert, row.alert_id)
    result = HookResult(language=await _callee_language(session, row, alert))
    lang = result.language
    if alert is None:
        result.say = t(lang, "voice.invalid")
        return result
    key = digits.strip()[:1]
    if row.target == Target.RESIDENT.value:
        await _resident_key(session, row, alert, key, now=now, metrics=metrics, result=result)
        return result
    if key == "1":
        settle(row, AttemptStatus.ACCEPTED, now=now, metrics=metrics)
        result.say = await accept(session, alert, row.contact_id, channel=AckChannel.VOICE, now=now,
                                  tz=tz, result=result, voice=True)
    elif key == "2":
        settle(row, AttemptStatus.DECLINED, now=now, metrics=metrics)
        await decline(session, alert, row.contact_id, channel="voice", now=now, result=result)
        result.say = t(lang, "voice.declined")
    else:
        result.say = t(lang, "voice.invalid")
    return result


async def accept(session: AsyncSession, alert: Alert, contact_id: int | None, *,
                 channel: AckChannel, now: datetime, tz: tzinfo, result: HookResult,
                 voice: bool) -> str:
    """A contact (or the centre) says "I'm going"; returns the text to say or send back."""
    assert alert.id is not None
    lang = result.language
    prefix = "voice" if voice else "sms"
    if alert.status == AlertStatus.RESOLVED.value:
        return t(lang, "sms.closed")
    if alert.acknowledged_at is not None:
        taker = await taker_name(session, alert, lang)
        if contact_id is not None and alert.acknowledged_by == f"contact:{contact_id}":
            return t(lang, f"{prefix}.thanks", name=await _resident_name(session, alert))
        local = alert.acknowledged_at.astimezone(tz).strftime("%H:%M")
        return t(lang, f"{prefix}.already", taker=taker, time=local)
    actor = f"contact:{contact_id}" if contact_id is not None else "dispatch"
    await actions.acknowledge(session, alert_id=alert.id, actor=actor, channel=channel, now=now,
                              contact_id=contact_id)
    result.changes.append(AlertChange(alert.id, ChangeKind.ACKNOWLEDGED))
    return t(lang, f"{prefix}.thanks", name=await _resident_name(session, alert))


async def decline(session: AsyncSession, alert: Alert, contact_id: int | None, *, channel: str,
                  now: datetime, result: HookResult) -> None:
    """A contact says "I can't": the step moves on now."""
    assert alert.id is not None
    actor = f"contact:{contact_id}" if contact_id is not None else "dispatch"
    if contact_id is not None:
        responder = await session.get(AlertResponder, (alert.id, contact_id))
        if responder is not None and responder.state == ResponderState.DECLINED.value:
            return  # the same "2" twice
        if responder is not None and responder.state != ResponderState.ACCEPTED.value:
            responder.state, responder.updated_at = ResponderState.DECLINED.value, now
    said = say("timeline.alert.declined", channel=term(f"channel.{channel}"))
    session.add(AlertEvent(alert_id=alert.id, at=now, kind=EventKind.CONTACT_STATE.value, actor=actor,
                           message=said.english, data={"contact_id": contact_id,
                                                       "state": "declined", **said.data()}))
    await hooks.poke(session, alert.id, now=now)
    result.changes.append(AlertChange(alert.id, ChangeKind.CONTACT_STATE))


async def _callee_language(session: AsyncSession, row: NotificationAttempt,
                           alert: Alert | None) -> str:
    """The language of whoever is on the line: the contact's, or the resident's on their call."""
    if row.contact_id is not None:
        contact = await session.get(Contact, row.contact_id)
        return language_of(contact.language if contact else None)
    if row.target == Target.RESIDENT.value and alert is not None and alert.resident_id:
        resident = await session.get(Resident, alert.resident_id)
        return language_of(resident.language if resident else None)
    return language_of(None)


async def _resident_key(session: AsyncSession, row: NotificationAttempt, alert: Alert, key: str, *,
                        now: datetime, metrics: Metrics, result: HookResult) -> None:
    """1 = "I am fine": contacts are not called (fire types still are); 9 = help: go on now.

    Each has its own timeline entry (and board state), never the contact's "accepted".
    """
    assert alert.id is not None
    lang = result.language
    if key == "1":
        settle(row, AttemptStatus.ACCEPTED, now=now, metrics=metrics)
        result.say = t(lang, "voice.resident_ok")
        fire = ALARM_TYPES[resolve_alarm_type(alert.type)].fire
        said = say("timeline.alert.resident_fine_fire" if fire else "timeline.alert.resident_fine")
        session.add(AlertEvent(alert_id=alert.id, at=now, kind=EventKind.RESIDENT_FINE.value,
                               actor="resident", message=said.english, data=said.data()))
        if not fire and alert.status == AlertStatus.OPEN.value:
            await actions.cancel(session, alert, actor="resident", now=now,
                                 said=say("timeline.alert.resident_fine_cancel"))
        result.changes.append(AlertChange(alert.id, ChangeKind.RESIDENT_FINE))
    elif key == "9":
        settle(row, AttemptStatus.DECLINED, now=now, metrics=metrics)
        result.say = t(lang, "voice.resident_help")
        said = say("timeline.alert.resident_help")
        session.add(AlertEvent(alert_id=alert.id, at=now, kind=EventKind.RESIDENT_HELP.value,
                               actor="resident", message=said.english, data=said.data()))
        await hooks.poke(session, alert.id, now=now)
        result.changes.append(AlertChange(alert.id, ChangeKind.RESIDENT_HELP))
    else:
        result.say = t(lang, "voice.invalid")


async def taker_name(session: AsyncSession, alert: Alert, lang: str) -> str:
    """Who took the alert, as the listener's language names them (a contact by their name)."""
    by = alert.acknowledged_by or ""
    contact_id = int(by[8:]) if by.startswith("contact:") and by[8:].isdigit() else None
    if contact_id is None and alert.id is not None:  # taken for a contact on the console or API
        contact_id = (await session.exec(
            select(AlertResponder.contact_id).where(
                AlertResponder.alert_id == alert.id,
                col(AlertResponder.state).in_([ResponderState.ACCEPTED.value,
                                               ResponderState.ARRIVED.value]))
            .order_by(col(AlertResponder.updated_at)))).first()
    contact = await session.get(Contact, contact_id) if contact_id is not None else None
    if contact is not None:
        return contact.name
    return t(lang, "sms.centre") if not by.startswith("contact:") else by


async def _resident_name(session: AsyncSession, alert: Alert) -> str:
    resident = await session.get(Resident, alert.resident_id) if alert.resident_id else None
    return notices.facts_of(alert, resident).resident_name
