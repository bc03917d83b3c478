"""Erasing a resident who left removes personal data and keeps the statistics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from alert_gateway.console.report import monthly_report
from alert_gateway.db.residents import Resident
from alert_gateway.errors import Conflict
from alert_gateway.privacy.erasure import ERASED_NAME, erase

from ..console.factories import add_alert
from .conftest import Centre
from .seed import NUMBER, closed_alert, month_of, raw_details


async def test_erase_clears_the_person_and_keeps_alerts_countable(centre: Centre) -> None:
    """Raw rows hold no name, address, phone, note or code; contacts are anonymised, devices
    unlinked; the alert is still in its month's report, and the erasure is audited."""
    services = centre.services
    alert_id = await closed_alert(services, resolved_days_ago=3)
    async with services.sessions() as session:
        card = await session.get(Resident, "r-001")
        assert card is not None
        card.wellbeing_schedule = "weekly mon 10:00-11:00"  # their routine is cleared too
        done = await erase(session, resident_id="r-001", actor="cli:city-office",
                           now=services.clock.now())
        await session.commit()
    assert (done.contacts, done.devices, done.alerts) == (2, 1, 1), done
    async with services.engine.connect() as conn:
        resident = (await conn.execute(text("SELECT * FROM resident"))).one()._mapping
        contacts = (await conn.execute(text("SELECT name, phone, active FROM contact"))).all()
        devices = (await conn.execute(text("SELECT resident_id FROM device"))).all()
        audit = (await conn.execute(text("SELECT actor, action FROM audit_entry"))).all()
    personal = {k: v for k, v in resident.items()
                if k not in ("id", "name", "phone_type", "language", "oxygen_in_home", "bed_bound",
                             "no_nearby_contact", "away",
                             "active", "erased_at", "created_at", "updated_at",
                             "wellbeing_timezone", "wellbeing_channel")}
    assert resident["name"] == ERASED_NAME and set(personal.values()) == {None}, dict(resident)
    assert all(c.name == ERASED_NAME and not c.active and "+81" not in c.phone
               for c in contacts), contacts
    assert devices == [(None,)]
    assert ("cli:city-office", "erase") in audit
    details = await raw_details(services.engine, alert_id)
    assert details["sms"] is None and details["number"] != NUMBER, details
    zone = services.settings.timezone
    month = month_of(services.clock.now() - timedelta(days=3), zone)
    report = await monthly_report(services.sessions, month=month, zone=zone,
                                  now=services.clock.now())
    assert report.by_type["sos"] == 1 and report.by_outcome["family_attended"] == 1


async def test_erase_refuses_while_an_alert_is_on_the_board_and_twice(centre: Centre) -> None:
    """An open alert still needs the card: erasure waits; a second erasure is a Conflict too."""
    services = centre.services
    await add_alert(services)
    async with services.sessions() as session:
        with pytest.raises(Conflict, match="still on the board"):
            await erase(session, resident_id="r-001", actor="cli", now=services.clock.now())
    async with services.engine.begin() as conn:
        await conn.execute(text("UPDATE alert SET status = 'resolved'"))
    async with services.sessions() as session:
        await erase(session, resident_id="r-001", actor="cli", now=services.clock.now())
        await session.commit()
    async with services.sessions() as session:
        with pytest.raises(Conflict, match="already erased"):
            await erase(session, resident_id="r-001", actor="cli", now=services.clock.now())
