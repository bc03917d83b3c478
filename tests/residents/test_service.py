"""Standard verbs for residents, contacts and devices on both databases."""

from __future__ import annotations

import pytest

from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import SessionFactory
from alert_gateway.errors import Conflict, InvalidInput, NotFound
from alert_gateway.residents import service
from alert_gateway.residents.schemas import (
    ContactIn,
    ContactUpdate,
    DeviceIn,
    ResidentIn,
    ResidentUpdate,
)


async def seed(sessions: SessionFactory, clock: FakeClock) -> None:
    """Three residents, one inactive, with two contacts for the first."""
    async with sessions() as s:
        now = clock.now()
        await service.create(
            s, data=ResidentIn(id="r-1", name="山田 花子", kana="ヤマダ ハナコ"), now=now
        )
        await service.create(
            s, data=ResidentIn(id="r-2", name="佐藤 清", kana="サトウ キヨシ"), now=now
        )
        await service.create(s, data=ResidentIn(id="r-3", name="中村 和子", active=False), now=now)
        for priority, phone in ((2, "076-221-4455"), (1, "090-1234-5678")):
            contact = ContactIn(
                name=f"c{priority}", relation="family", phone=phone, priority=priority
            )
            await service.create_contact(s, resident_id="r-1", data=contact, now=now)
        await s.commit()


async def test_missing_records_raise_not_found(sessions: SessionFactory) -> None:
    """get, get_contact and get_device raise NotFound for an unknown id."""
    async with sessions() as s:
        with pytest.raises(NotFound):
            await service.get(s, resident_id="nobody")
        with pytest.raises(NotFound):
            await service.get_contact(s, contact_id=999)
        with pytest.raises(NotFound):
            await service.get_device(s, device_id="pendant-9")


async def test_create_refuses_a_taken_id(sessions: SessionFactory, clock: FakeClock) -> None:
    """A second resident with the same id is a Conflict."""
    await seed(sessions, clock)
    async with sessions() as s:
        with pytest.raises(Conflict):
            await service.create(s, data=ResidentIn(id="r-1", name="x"), now=clock.now())


async def test_get_all_searches_and_filters(sessions: SessionFactory, clock: FakeClock) -> None:
    """Search matches name or kana (typed in hiragana too); active filters; results page by id."""
    await seed(sessions, clock)
    async with sessions() as s:
        assert [r.id for r in await service.get_all(s, search="やまだ")] == ["r-1"]
        assert [r.id for r in await service.get_all(s, search="佐藤")] == ["r-2"]
        assert [r.id for r in await service.get_all(s, active=True)] == ["r-1", "r-2"]
        assert [r.id for r in await service.get_all(s, active=False)] == ["r-3"]
        assert [r.id for r in await service.get_all(s, limit=1, offset=1)] == ["r-2"]
        assert await service.get_all(s, search="%") == []  # wildcards are literal


async def test_update_changes_only_given_fields(sessions: SessionFactory, clock: FakeClock) -> None:
    """A new phone is normalized and its type re-derived; other fields stay; updated_at moves."""
    await seed(sessions, clock)
    await clock.advance(60)
    async with sessions() as s:
        changes = ResidentUpdate(phone="090-1111-2222", key_safe_code="1234")
        resident = await service.update(s, resident_id="r-1", data=changes, now=clock.now())
        with pytest.raises(InvalidInput, match="phone"):
            await service.update(
                s, resident_id="r-1", data=ResidentUpdate(phone="12"), now=clock.now()
            )
    assert (resident.phone, resident.phone_type) == ("+819011112222", "mobile")
    assert (resident.kana, resident.key_safe_code, resident.updated_at) == (
        "ヤマダ ハナコ",
        "1234",
        clock.now(),
    )


async def test_deactivate_keeps_the_record(sessions: SessionFactory, clock: FakeClock) -> None:
    """A deactivated resident is still there, marked inactive."""
    await seed(sessions, clock)
    async with sessions() as s:
        await service.deactivate(s, resident_id="r-1", now=clock.now())
        await s.commit()
    async with sessions() as s:
        assert (await service.get(s, resident_id="r-1")).active is False


async def test_contacts_come_in_priority_order(sessions: SessionFactory, clock: FakeClock) -> None:
    """contacts_for orders by priority; a landline contact got voice only."""
    await seed(sessions, clock)
    async with sessions() as s:
        contacts = await service.contacts_for(s, resident_id="r-1")
    assert [(c.priority, c.phone_type, c.channels) for c in contacts] == [
        (1, "mobile", "sms,voice"),
        (2, "landline", "voice"),
    ]


async def test_contact_update_and_duplicates(sessions: SessionFactory, clock: FakeClock) -> None:
    """A contact's new landline number drops sms; the same number twice is a Conflict."""
    await seed(sessions, clock)
    async with sessions() as s:
        first, second = await service.contacts_for(s, resident_id="r-1")
        changed = await service.update_contact(
            s, contact_id=first.id or 0, data=ContactUpdate(phone="076-220-1111"), now=clock.now()
        )
        assert (changed.phone, changed.phone_type, changed.channels) == (
            "+81762201111",
            "landline",
            "voice",
        )
        with pytest.raises(Conflict):
            await service.update_contact(
                s, contact_id=first.id or 0, data=ContactUpdate(phone=second.phone), now=clock.now()
            )
        with pytest.raises(Conflict):
            again = ContactIn(name="x", relation="family", phone=second.phone)
            await service.create_contact(s, resident_id="r-1", data=again, now=clock.now())
        gone = await service.deactivate_contact(s, contact_id=second.id or 0, now=clock.now())
        assert gone.active is False
        assert [c.id for c in await service.contacts_for(s, resident_id="r-1", active=True)] == [
            first.id
        ]


async def test_upsert_device_moves_it_and_keeps_supervision_state(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Re-registering a device to another home keeps last_seen_at and battery from ingest."""
    await seed(sessions, clock)
    async with sessions() as s:
        device, created = await service.upsert_device(
            s, resident_id="r-1", data=DeviceIn(id="fall-1", kind="fall_detector"), now=clock.now()
        )
        assert created and device.heartbeat_interval == 300
        device.battery, device.last_seen_at = 80, clock.now()
        data = DeviceIn(id="fall-1", kind="fall_detector", heartbeat_interval=120)
        moved, created = await service.upsert_device(
            s, resident_id="r-2", data=data, now=clock.now()
        )
        await s.commit()
    assert not created
    assert (moved.resident_id, moved.heartbeat_interval, moved.battery) == ("r-2", 120, 80)
    async with sessions() as s:
        assert [d.id for d in await service.devices_for(s, resident_id="r-2")] == ["fall-1"]
        assert await service.devices_for(s, resident_id="r-1") == []
        with pytest.raises(NotFound):
            await service.upsert_device(s, resident_id="nobody", data=data, now=clock.now())
