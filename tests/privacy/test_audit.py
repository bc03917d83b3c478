"""The audit log records views, changes and key-safe reveals, and supervisors export it as CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert
from sqlmodel import select

from alert_gateway.db.audit import AuditEntry

from ..console.conftest import OPERATOR, SUPERVISOR
from ..console.factories import KEY_CODE, add_alert
from .conftest import Centre


async def export(centre: Centre, query: str = "") -> list[dict[str, str]]:
    """The audit CSV a supervisor downloads, as rows."""
    response = await centre.client.get(f"/console/audit.csv{query}")
    body = await response.text()
    assert response.status == 200, body
    return list(csv.DictReader(io.StringIO(body.removeprefix("\ufeff"))))


async def test_view_change_and_reveal_are_in_the_csv_export(centre: Centre) -> None:
    """A page view, an edit, a key-safe reveal and an API read each leave a row naming who."""
    alert_id = await add_alert(centre.services)
    csrf = await centre.sign_in(SUPERVISOR)
    assert (await centre.client.get("/console/residents/r-001")).status == 200
    edited = await centre.client.post("/console/residents/r-001", data={
        "csrf_token": csrf, "name": "金沢 ハナ", "medical_notes": "心不全・糖尿病"},
        allow_redirects=False)
    assert edited.status == 303, await edited.text()
    revealed = await centre.client.post(f"/console/alerts/{alert_id}/reveal-key",
                                        data={"csrf_token": csrf})
    assert revealed.status == 200
    api = await centre.client.get("/api/v1/residents/r-001", headers=centre.api_auth)
    assert api.status == 200
    rows = await export(centre)
    seen = {(r["actor"], r["action"], r["resident_id"]) for r in rows}
    supervisor = f"operator:{SUPERVISOR}"
    for expected in ((supervisor, "view", "r-001"), (supervisor, "update", "r-001"),
                     (supervisor, "reveal_key_code", "r-001"),
                     ("api:city-dashboard", "view", "r-001")):
        assert expected in seen, f"{expected} missing from {sorted(seen)}"
    update = next(r for r in rows if r["action"] == "update")
    changed = update["detail"].split(",")
    assert "medical_notes" in changed and "name" not in changed, update  # what really changed
    text = repr(rows)
    assert KEY_CODE not in text and "糖尿病" not in text, "a value leaked into the audit log"
    assert rows[0]["at"].endswith("+09:00"), rows[0]


async def test_the_export_is_limited_to_the_range_and_itself_audited(centre: Centre) -> None:
    """Entries outside the dates are left out; the download adds an 'export' entry."""
    await centre.sign_in(SUPERVISOR)
    await centre.client.get("/console/residents/r-001")
    zone = ZoneInfo(centre.services.settings.timezone)
    today = centre.services.clock.now().astimezone(zone).date().isoformat()
    assert await export(centre, "?from=2020-01-01&to=2020-01-31") == []
    rows = await export(centre, f"?from={today}&to={today}")
    # the first (empty) export is listed; this one is recorded after its rows were read
    assert [r["action"] for r in rows] == ["view", "export"], rows
    page = await (await centre.client.get("/console/audit")).text()
    assert "Exported the audit log" in page or "監査ログを出力" in page


async def test_operators_cannot_export_and_bad_dates_are_one_line(centre: Centre) -> None:
    """Only supervisors see the audit log; a malformed date is a 400 saying how dates look."""
    await centre.sign_in(OPERATOR)
    assert (await centre.client.get("/console/audit.csv")).status == 403
    await centre.client.post("/console/logout")
    await centre.sign_in(SUPERVISOR)
    bad = await centre.client.get("/console/audit?from=27/11/2026")
    assert bad.status == 400 and "2026-11-27" in await bad.text()


async def test_a_long_month_streams_whole_in_order_and_the_page_shows_the_newest(
        centre: Centre) -> None:
    """2,500 entries, 40 of them sharing one second across the CSV's first page boundary: the
    CSV (read a page at a time) holds each once, oldest first (then by id); the page lists the
    newest 500 and says how many there are."""
    now = centre.services.clock.now()
    tied = range(1481, 1521)  # 980th to 1,019th oldest
    rows = [{"at": now - timedelta(minutes=1500 if i in tied else i), "actor": "operator:sato",
             "action": "view", "resident_id": f"r-{i:04d}", "detail": ""} for i in range(1, 2501)]
    async with centre.services.sessions() as s:
        await s.exec(insert(AuditEntry), params=rows)  # type: ignore[call-overload]
        await s.commit()
    await centre.sign_in(SUPERVISOR)
    exported = [r["resident_id"] for r in await export(centre)
                if r["resident_id"].startswith("r-")]
    expected = [f"r-{i:04d}" for i in [*range(2500, 1520, -1), *tied, *range(1480, 0, -1)]]
    assert exported == expected, (len(exported), exported[:3], exported[38:44])
    async with centre.services.sessions() as s:
        total = (await s.exec(select(func.count()).select_from(AuditEntry))).one()
    page = await (await centre.client.get("/console/audit")).text()
    assert page.count("<tr><td>") == 500, page.count("<tr><td>")
    assert f"{total:,}" in page or str(total) in page, page[-600:]
