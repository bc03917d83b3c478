"""Rows the console tests need: a resident with contacts and devices, and an open alert."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from alert_gateway.alerts.opening import event
from alert_gateway.db.alerts import Alert, EventKind
from alert_gateway.db.residents import Contact, Device, Resident
from alert_gateway.i18n.said import say, term
from alert_gateway.services import Services

KEY_CODE = "4721"


async def add_resident(services: Services, resident_id: str = "r-001", *,
                       device_id: str = "pendant-001", name: str = "金沢 ハナ") -> None:
    """A resident with two contacts, a pendant and a key-safe code."""
    now = services.clock.now()
    async with services.sessions() as session:
        session.add(Resident(
            id=resident_id, name=name, kana="カナザワ ハナ", address="石川県金沢市広坂1-1-1",
            phone="+81762201111", date_of_birth=date(1938, 4, 12), medical_notes="心不全",
            gp="金沢市民病院", gp_phone="+81762452200", oxygen_in_home=True, access_notes="裏口から",
            key_safe_location="玄関横", key_safe_code=KEY_CODE, created_at=now, updated_at=now,
        ))
        await session.flush()
        session.add(Contact(resident_id=resident_id, name="金沢 太郎", relation="family",
                            phone="+819011112222", phone_type="mobile", priority=1))
        session.add(Contact(resident_id=resident_id, name="隣 協力", relation="neighbour",
                            phone="+819033334444", phone_type="mobile", priority=2))
        session.add(Device(id=device_id, kind="pendant", resident_id=resident_id,
                           battery=87, last_seen_at=now - timedelta(minutes=3)))
        await session.commit()


async def add_alert(services: Services, resident_id: str = "r-001", *, alarm_type: str = "sos",
                    severity: str = "P1", ago: timedelta = timedelta(seconds=40),
                    device_id: str = "pendant-001", **values: Any) -> int:
    """An open alert opened `ago` before the clock's now; returns its id."""
    opened = services.clock.now() - ago
    async with services.sessions() as session:
        alert = Alert(resident_id=resident_id, device_id=device_id, type=alarm_type,
                      severity=severity, opened_at=opened, updated_at=opened, **values)
        session.add(alert)
        await session.flush()
        assert alert.id is not None
        session.add(event(alert, EventKind.OPENED, now=opened, actor=f"device:{device_id}",
                          said=say("timeline.alarm.received", alarm=term(f"alarm.{alarm_type}"))))
        await session.commit()
        return alert.id
