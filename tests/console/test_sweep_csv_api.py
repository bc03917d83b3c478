"""The sweep's CSV through the API is the console's export, byte for byte (one builder)."""

from __future__ import annotations

from sqlmodel import select

from alert_gateway.access import tokens
from alert_gateway.db.audit import AuditEntry
from alert_gateway.db.models import SweepEntry

from .conftest import SUPERVISOR, Console
from .factories import add_resident


async def test_the_api_csv_is_the_console_csv(console_on_both: Console) -> None:
    """A sweep with one resident answered by link: the API's file equals the console's, in
    Japanese by default and in English on request, and the export is audited."""
    console = console_on_both
    services = console.services
    await add_resident(services, "r-001")
    await add_resident(services, "r-002", device_id="pendant-002", name="犀川 次郎")
    async with services.sessions() as s:
        _, token = await tokens.create(s, name="city-hall", now=services.clock.now())
        await s.commit()
    auth = {"Authorization": f"Bearer {token}"}
    started = await console.client.post("/api/v1/sweeps", json={}, headers=auth)
    assert started.status == 201, await started.text()
    sweep_id = (await started.json())["id"]
    async with services.sessions() as s:
        entry = (await s.exec(select(SweepEntry).where(SweepEntry.resident_id == "r-002"))).one()
        entry.state, entry.answered_by, entry.tries = "fine", "link", 1
        entry.answered_at = services.clock.now()
        await s.commit()

    await console.sign_in(SUPERVISOR)
    from_console = await console.client.get(f"/console/sweeps/{sweep_id}.csv")
    from_api = await console.client.get(f"/api/v1/sweeps/{sweep_id}/entries.csv", headers=auth)
    assert from_api.status == 200, await from_api.text()
    assert from_api.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert from_api.headers["Content-Disposition"] == from_console.headers["Content-Disposition"]
    body = await from_api.read()
    assert body == await from_console.read()
    text = body.decode("utf-8")
    assert text.startswith("\ufeffrank,resident_id,name,")
    assert ",fine,無事,1,," in text and ",link," in text, text

    english = await console.client.get(f"/api/v1/sweeps/{sweep_id}/entries.csv?lang=en",
                                       headers=auth)
    assert ",fine,fine,1,," in (await english.read()).decode("utf-8")
    wrong = await console.client.get(f"/api/v1/sweeps/{sweep_id}/entries.csv?lang=fr",
                                     headers=auth)
    assert wrong.status == 400 and "lang" in (await wrong.json())["message"]
    missing = await console.client.get("/api/v1/sweeps/999/entries.csv", headers=auth)
    assert missing.status == 404
    async with services.sessions() as s:
        logged = [(e.actor, e.action) for e in await s.exec(select(AuditEntry))
                  if e.detail == f"sweep {sweep_id}, 2 residents"]
    assert ("api:city-hall", "export") in logged and ("operator:sato", "export") in logged
