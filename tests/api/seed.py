"""Rows for API tests, written straight to the tables (ingest and escalation test themselves)."""

from __future__ import annotations

from datetime import timedelta

from alert_gateway.clock import FakeClock
from alert_gateway.db.alerts import Alert, AlertEvent, EventKind
from alert_gateway.db.engine import SessionFactory
from alert_gateway.db.escalation import AlertResponder, NotificationAttempt
from alert_gateway.db.messages import RejectedMessage
from alert_gateway.db.residents import Contact, Device, Resident


async def resident(sessions: SessionFactory, clock: FakeClock, resident_id: str = "r-0001") -> None:
    """A resident with a key-safe code, two contacts and one device."""
    now = clock.now()
    async with sessions() as s:
        s.add(Resident(id=resident_id, name="山田 花子", kana="ヤマダ ハナコ", key_safe_code="4711",
                       key_safe_location="玄関横", created_at=now, updated_at=now))
        await s.flush()
        s.add(Contact(resident_id=resident_id, name="山田 太郎", relation="family",
                      phone="+819012345678", phone_type="mobile", priority=1,
                      created_at=now, updated_at=now))
        s.add(Contact(resident_id=resident_id, name="田中 一郎", relation="neighbour",
                      phone="+819087654321", phone_type="mobile", priority=2,
                      created_at=now, updated_at=now))
        s.add(Device(id=f"pendant-{resident_id}", resident_id=resident_id, created_at=now,
                     updated_at=now))
        await s.commit()


async def alert(sessions: SessionFactory, clock: FakeClock, *, type: str = "sos",
                severity: str = "P1", status: str = "open", resident_id: str | None = "r-0001",
                age_minutes: int = 0) -> int:
    """An alert opened `age_minutes` ago with an 'opened' timeline event; returns its id."""
    opened = clock.now() - timedelta(minutes=age_minutes)
    async with sessions() as s:
        row = Alert(resident_id=resident_id, device_id="pendant-r-0001", type=type,
                    severity=severity, status=status, opened_at=opened, updated_at=opened)
        s.add(row)
        await s.flush()
        assert row.id is not None
        s.add(AlertEvent(alert_id=row.id, at=opened, kind=EventKind.OPENED.value,
                         actor="device:pendant-r-0001", message=f"{type} alarm"))
        await s.commit()
        return row.id


async def escalation_trace(sessions: SessionFactory, clock: FakeClock, alert_id: int) -> int:
    """An SMS to the first contact and that contact's responder row; returns the contact id."""
    now = clock.now()
    async with sessions() as s:
        contact = Contact(resident_id="r-0001", name="隣人", relation="neighbour",
                          phone="+819011112222", priority=3, created_at=now, updated_at=now)
        s.add(contact)
        await s.flush()
        assert contact.id is not None
        s.add(NotificationAttempt(alert_id=alert_id, target="contact", contact_id=contact.id,
                                  to_number=contact.phone, channel="sms", status="delivered",
                                  created_at=now, not_before=now))
        s.add(AlertResponder(alert_id=alert_id, contact_id=contact.id, state="notified",
                             updated_at=now))
        s.add(AlertEvent(alert_id=alert_id, at=now, kind=EventKind.NOTIFICATION.value,
                         message="SMS to contact"))
        await s.commit()
        return contact.id


async def rejected(sessions: SessionFactory, clock: FakeClock, payload: bytes) -> None:
    """A rejected message with these raw bytes."""
    async with sessions() as s:
        s.add(RejectedMessage(received_at=clock.now(), topic="eldercare/v1/devices/d-1/alarm",
                              device_id="d-1", reason="not_utf8", detail="not UTF-8",
                              payload=payload))
        await s.commit()
