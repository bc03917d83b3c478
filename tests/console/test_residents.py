"""Residents, contacts and devices through the console; uploads go through the CLI's importer."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from sqlmodel import select

from alert_gateway.db.residents import Contact, Device, Resident

from .conftest import SUPERVISOR, Console
from .factories import KEY_CODE, add_resident

EXAMPLE_CSV = Path(__file__).resolve().parents[2] / "config" / "examples" / "residents.csv"


async def _resident(console: Console, resident_id: str) -> Resident | None:
    async with console.services.sessions() as session:
        return await session.get(Resident, resident_id)


async def test_operator_can_search_but_not_edit(console: Console) -> None:
    """Operators find residents by hiragana; editing is for supervisors only."""
    await add_resident(console.services)
    csrf = await console.sign_in()
    page = await (await console.client.get("/console/residents", params={"q": "かなざわ"})).text()
    assert "金沢 ハナ" in page
    detail = await (await console.client.get("/console/residents/r-001")).text()
    assert "金沢 太郎" in detail and KEY_CODE not in detail
    for path in ("/console/residents/new", "/console/residents/r-001/edit",
                 "/console/residents/import"):
        assert (await console.client.get(path)).status == 403, path
    response = await console.client.post("/console/residents/r-001/deactivate",
                                         data={"csrf_token": csrf})
    assert response.status == 403


async def test_supervisor_creates_edits_and_deactivates(console: Console) -> None:
    """A resident made in the form can be edited (code kept when left blank) and deactivated."""
    csrf = await console.sign_in(SUPERVISOR)
    response = await console.client.post("/console/residents", data={
        "csrf_token": csrf, "id": "r-900", "name": "野町 ウメ", "phone": "076-220-1234",
        "date_of_birth": "1940/05/01", "key_safe_code": "9911", "oxygen_in_home": "1",
    }, allow_redirects=False)
    assert response.status == 303, await response.text()
    created = await _resident(console, "r-900")
    assert created and created.phone == "+81762201234" and created.oxygen_in_home
    response = await console.client.post("/console/residents/r-900", data={
        "csrf_token": csrf, "name": "野町 ウメ", "address": "金沢市野町2-2", "key_safe_code": "",
    }, allow_redirects=False)
    assert response.status == 303, await response.text()
    edited = await _resident(console, "r-900")
    assert edited and edited.address == "金沢市野町2-2" and edited.key_safe_code == "9911"
    bad = await console.client.post("/console/residents/r-900", data={
        "csrf_token": csrf, "name": "野町 ウメ", "phone": "12"})
    assert bad.status == 400 and "phone" in await bad.text()
    await console.client.post("/console/residents/r-900/deactivate", data={"csrf_token": csrf})
    gone = await _resident(console, "r-900")
    assert gone and not gone.active


async def test_supervisor_manages_contacts_and_devices(console: Console) -> None:
    """Contacts are added, edited and deactivated; devices registered and deactivated."""
    await add_resident(console.services)
    csrf = await console.sign_in(SUPERVISOR)
    await console.client.post("/console/residents/r-001/contacts", data={
        "csrf_token": csrf, "name": "広坂 次郎", "relation": "neighbour", "phone": "090-5555-6666",
        "priority": "3"})
    async with console.services.sessions() as session:
        contact = (await session.exec(select(Contact).where(Contact.name == "広坂 次郎"))).one()
    await console.client.post(f"/console/contacts/{contact.id}", data={
        "csrf_token": csrf, "name": "広坂 次郎", "relation": "neighbour", "phone": "090-5555-6666",
        "priority": "3", "availability": "平日 9-17時"})
    await console.client.post(f"/console/contacts/{contact.id}",
                              data={"csrf_token": csrf, "active": "0"})
    await console.client.post("/console/residents/r-001/devices", data={
        "csrf_token": csrf, "id": "smoke-001", "kind": "smoke_detector", "location": "台所",
        "heartbeat_interval": "3600"})
    async with console.services.sessions() as session:
        saved = await session.get(Contact, contact.id)
        device = await session.get(Device, "smoke-001")
    assert saved and saved.availability == "平日 9-17時" and not saved.active
    assert device and device.resident_id == "r-001" and device.kind == "smoke_detector"


async def test_upload_shows_row_errors_and_imports_nothing(console: Console) -> None:
    """A CSV with one bad phone is refused with its line; a good file is imported."""
    csrf = await console.sign_in(SUPERVISOR)
    good = EXAMPLE_CSV.read_bytes()
    broken = good.decode().replace("090-1234-5678", "12", 1)  # one contact's phone
    form = aiohttp.FormData()
    form.add_field("csrf_token", csrf)
    form.add_field("file", broken.encode(), filename="city.csv", content_type="text/csv")
    response = await console.client.post("/console/residents/import", data=form)
    page = await response.text()
    assert response.status == 400 and 'id="import-errors"' in page
    async with console.services.sessions() as session:
        assert (await session.exec(select(Resident))).first() is None
    form = aiohttp.FormData()
    form.add_field("csrf_token", csrf)
    form.add_field("file", good, filename="city.csv", content_type="text/csv")
    response = await console.client.post("/console/residents/import", data=form)
    assert response.status == 200, await response.text()
    async with console.services.sessions() as session:
        assert (await session.exec(select(Resident))).first() is not None
