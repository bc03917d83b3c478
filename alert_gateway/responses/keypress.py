"""A key pressed on a call (contacts: 1 accept, 2 decline; the resident: 1 fine, 9 help), and
the acceptance and decline that the answer page and LINE share with it."""

from __future__ import annotations

from datetime import datetime, tzinfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from devices.contract import ALARM_TYPES, resolve_alarm_type

from ..alerts import actions
from ..bus import AlertChange, ChangeKind
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
from ..escalation import hooks
from ..i18n import language_of, t
from ..i18n.said import say, term
from ..metrics import Metrics
from ..outbox import notices
from ..outbox.attempts import settle
from ..sweep import answers as sweep_answers
from ..wellbeing import answers as wellbeing_answers
from .callbacks import HookResult, named_attempt


async def keypress(session: AsyncSession, *, attempt_id: int, sid: str | None, digits: str,
                   now: datetime, tz: tzinfo, metrics: Metrics) -> HookResult:
    """A key pressed at the Gather: 1 accept / 2 decline; the resident's 1 fine / 9 help."""
    row = await named_attempt(session, attempt_id, sid, now=now, metrics=metrics)
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
