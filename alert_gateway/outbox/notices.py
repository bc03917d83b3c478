"""Outbox rows for notices: "taken by X", "cancelled", closing summaries to people already notified."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from devices.contract import ALARM_TYPES, AlarmType, resolve_alarm_type

from ..db.models import (
    Alert,
    AlertResponder,
    AttemptStatus,
    Contact,
    NotificationAttempt,
    NotifyChannel,
    PhoneType,
    Purpose,
    Resident,
    Target,
)
from ..i18n import t
from .closing import ESCALATION_PURPOSES
from .texts import AlertFacts, notice_sms

NOTICE_PRIORITY = 2  # after the escalation steps of P1 alarms, before everything else
NOTICE_KEYS = {
    Purpose.TAKEN_NOTICE: "taken",
    Purpose.CANCEL_NOTICE: "cancelled",
    Purpose.SUMMARY: "summary",
}


class AlertColumns(Protocol):
    """The alert's columns a notification's facts come from (an ORM row or a Core row)."""

    @property
    def type(self) -> str: ...
    @property
    def device_id(self) -> str | None: ...


class ResidentColumns(Protocol):
    """The resident's columns a notification's facts come from."""

    @property
    def name(self) -> str: ...
    @property
    def address(self) -> str | None: ...


def facts_of(alert: AlertColumns, resident: ResidentColumns | None) -> AlertFacts:
    """What notifications may say about this alert."""
    alarm = resolve_alarm_type(alert.type)
    name = resident.name if resident else (alert.device_id or "?")
    return AlertFacts(name, alarm.value, resident.address if resident else None,
                      technical=ALARM_TYPES[alarm].technical or alarm is AlarmType.MASS_OUTAGE)


def sms_row(*, alert_id: int | None, target: Target, contact_id: int | None, to: str, body: str,
            purpose: Purpose, priority: int, now: datetime,
            status: AttemptStatus = AttemptStatus.PENDING) -> NotificationAttempt:
    """One SMS in the outbox."""
    return NotificationAttempt(
        alert_id=alert_id, target=target.value, contact_id=contact_id, to_number=to,
        channel=NotifyChannel.SMS.value, purpose=purpose.value, status=status.value,
        priority=priority, body=body, created_at=now, not_before=now,
    )


def can_text(contact: Contact) -> bool:
    """SMS is never sent to a landline or to a number that sent STOP."""
    return contact.active and not contact.sms_opt_out and contact.phone_type != PhoneType.LANDLINE


async def notified_contacts(session: AsyncSession, alert_id: int) -> list[Contact]:
    """Contacts who were notified about this alert (they have a responder row)."""
    rows = await session.exec(
        select(Contact).join(AlertResponder, col(AlertResponder.contact_id) == col(Contact.id))
        .where(AlertResponder.alert_id == alert_id).order_by(col(Contact.priority)))
    return list(rows.all())


async def tell_notified(session: AsyncSession, *, alert: Alert, purpose: Purpose, now: datetime,
                        exclude: Iterable[int] = (), **params: object) -> int:
    """Queue a short SMS to every contact already notified (except `exclude`); returns how many."""
    assert alert.id is not None
    resident = await session.get(Resident, alert.resident_id) if alert.resident_id else None
    facts = facts_of(alert, resident)
    skip = set(exclude)
    phones: set[str] = set()
    for contact in await notified_contacts(session, alert.id):
        if contact.id in skip or not can_text(contact) or contact.phone in phones:
            continue
        phones.add(contact.phone)
        values = dict(params)
        if purpose is Purpose.TAKEN_NOTICE and not values.get("taker"):
            values["taker"] = t(contact.language, "sms.centre")  # an operator took it
        if purpose is Purpose.SUMMARY:
            values["outcome"] = _outcome(contact.language, str(values.get("outcome", "other")))
        body = notice_sms(contact.language, NOTICE_KEYS[purpose], name=facts.resident_name, **values)
        session.add(sms_row(alert_id=alert.id, target=Target.CONTACT, contact_id=contact.id,
                            to=contact.phone, body=body, purpose=purpose, priority=NOTICE_PRIORITY,
                            now=now))
    return len(phones)


async def cancel_queued_redials(session: AsyncSession, *, alert_id: int, now: datetime) -> None:
    """Re-dials not yet handed to Twilio are dropped: the operator asked for the next step now."""
    await session.exec(update(NotificationAttempt)  # type: ignore[call-overload]
                       .where(col(NotificationAttempt.alert_id) == alert_id,
                              col(NotificationAttempt.status) == AttemptStatus.PENDING.value,
                              col(NotificationAttempt.purpose).in_(ESCALATION_PURPOSES),
                              col(NotificationAttempt.dial_no) > 1)
                       .values(status=AttemptStatus.CANCELED.value, finished_at=now))


def _outcome(lang: str, outcome: str) -> str:
    try:
        return t(lang, f"sms_outcome.{outcome}")
    except KeyError:
        return outcome
