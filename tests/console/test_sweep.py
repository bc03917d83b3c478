"""The disaster sweep on the console: the at-risk flags in the resident form, a sweep started in
two clicks, its live list, pause/resume/stop, the CSV and the print button."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlmodel import select

from alert_gateway.access import tokens
from alert_gateway.db.audit import AuditEntry
from alert_gateway.db.models import Resident, Sweep, SweepEntry

from .conftest import OPERATOR, SUPERVISOR, Console
from .factories import add_resident


async def test_the_form_marks_a_resident_bed_bound_without_a_contact_nearby(
        console: Console) -> None:
    """Both flags are saved from the form and shown on the resident's page."""
    csrf = await console.sign_in(SUPERVISOR)
    response = await console.client.post("/console/residents", data={
        "csrf_token": csrf, "id": "r-901", "name": "野町 ウメ", "phone": "076-220-1234",
        "bed_bound": "1", "no_nearby_contact": "1"}, allow_redirects=False)
    assert response.status == 303, await response.text()
    async with console.services.sessions() as s:
        created = (await s.exec(select(Resident).where(Resident.id == "r-901"))).one()
    assert created.bed_bound and created.no_nearby_contact and not created.oxygen_in_home
    page = await (await console.client.get("/console/residents/r-901")).text()
    assert "寝たきり" in page and "近くに連絡先なし" in page


async def test_a_supervisor_starts_an_area_sweep_and_controls_it(console: Console) -> None:
    """Area + Start: the at-risk resident first, the other town left out; the page lists them,
    pause/resume/stop change it, the CSV opens in Excel, and operators cannot see it."""
    services = console.services
    await add_resident(services, "r-001")  # 石川県金沢市広坂1-1-1
    await add_resident(services, "r-002", device_id="pendant-002", name="犀川 次郎")
    await add_resident(services, "r-003", device_id="pendant-003", name="能登 三郎")
    async with services.sessions() as s:
        for resident_id, address, bed_bound in (("r-001", "石川県金沢市広坂1-1-1", False),
                                                ("r-002", "石川県金沢市広坂2-2", True),
                                                ("r-003", "石川県能登町1", False)):
            row = await s.get(Resident, resident_id)
            assert row is not None
            row.address, row.oxygen_in_home, row.bed_bound = address, False, bed_bound
        await s.commit()
    csrf = await console.sign_in(SUPERVISOR)
    form = await (await console.client.get("/console/sweeps")).text()
    assert "災害時の安否確認のご連絡です。" in form and "まだ安否確認はありません。" in form
    started = await console.client.post("/console/sweeps", data={
        "csrf_token": csrf, "scope": "area", "area_prefix": "石川県金沢市",
        "message_ja": "受信センターです。地震の安否確認です。",
        "message_en": "This is the centre, checking on you after the earthquake."},
        allow_redirects=False)
    assert started.status == 303, await started.text()
    page_url = started.headers["Location"]
    page = await (await console.client.get(page_url)).text()
    listed = page.split('id="sweep-residents"')[1]
    assert listed.index("犀川 次郎") < listed.index("金沢 ハナ") and "能登 三郎" not in listed
    assert 'data-state="waiting">2<' in page and "一時停止" in page and 'id="print-page"' in page
    async with services.sessions() as s:
        assert len((await s.exec(select(SweepEntry))).all()) == 2

    for action, shown in (("pause", "一時停止中"), ("resume", "実行中"), ("stop", "中止")):
        done = await console.client.post(f"{page_url}/{action}", data={"csrf_token": csrf},
                                         allow_redirects=False)
        assert done.status == 303, await done.text()
        live = await (await console.client.get(f"{page_url}/live",
                                                headers={"X-Fragment": "1"})).text()
        assert f"<strong>{shown}</strong>" in live, live
    again = await console.client.post(f"{page_url}/resume", data={"csrf_token": csrf})
    assert again.status == 409, await again.text()

    resident = await (await console.client.get("/console/residents/r-002")).text()
    history = resident.split('id="sweeps"')[1].split("</section>")[0]
    assert f'href="{page_url}"' in history and "待機" in history

    body = (await (await console.client.get(f"{page_url}.csv")).read()).decode("utf-8")
    assert body.startswith("\ufeffrank,resident_id,name")
    assert "1,r-002,犀川 次郎,石川県金沢市広坂2-2,+81762201111,1,waiting,待機,0,," in body

    async with services.sessions() as s:
        logged = [(e.actor, e.action, e.detail) for e in await s.exec(select(AuditEntry))
                  if e.detail.startswith("sweep ")]
    assert ("operator:sato", "list", "sweep 1, 2 residents") in logged
    assert ("operator:sato", "export", "sweep 1, 2 residents") in logged

    none = await console.client.post("/console/sweeps", data={
        "csrf_token": csrf, "scope": "area", "area_prefix": "大阪市"})
    assert none.status == 409 and "この地域に利用者がいません。" in await none.text()
    async with services.sessions() as s:  # the refused sweep left nothing behind
        assert len((await s.exec(select(Sweep))).all()) == 1


async def test_operators_cannot_start_a_sweep(console: Console) -> None:
    """The sweep pages are for supervisors."""
    await console.sign_in(OPERATOR)
    assert (await console.client.get("/console/sweeps")).status == 403


async def test_a_large_sweeps_page_lists_who_needs_someone_first_and_the_csv_everyone(
        console: Console) -> None:
    """250 swept: the live list shows 200, the one who pressed 9 and the one not reached (called
    late) at the top, and says how many it leaves to the CSV, which has all 250; the API pages
    them in call order."""
    now = datetime.now(UTC)
    async with console.services.sessions() as s:
        await s.exec(insert(Resident), params=[  # type: ignore[call-overload]
            {"id": f"s-{i:03d}", "name": f"住民 {i}", "address": f"輪島市河井町{i}",
             "created_at": now, "updated_at": now} for i in range(1, 251)])
        await s.commit()
    csrf = await console.sign_in(SUPERVISOR)
    started = await console.client.post("/console/sweeps", data={
        "csrf_token": csrf, "scope": "area", "area_prefix": "輪島市"}, allow_redirects=False)
    assert started.status == 303, await started.text()
    page_url = started.headers["Location"]
    async with console.services.sessions() as s:
        for resident_id, state in (("s-240", "help"), ("s-230", "not_reached")):
            entry = (await s.exec(select(SweepEntry)
                                  .where(SweepEntry.resident_id == resident_id))).one()
            entry.state = state
        await s.commit()
    live = await (await console.client.get(f"{page_url}/live", headers={"X-Fragment": "1"})).text()
    listed = re.findall(r'data-resident="([^"]+)"', live)
    assert listed[:3] == ["s-240", "s-230", "s-001"] and len(listed) == 200, listed[:5]
    assert "250 人中 200 人を表示しています" in live, live[-500:]
    csv_text = (await (await console.client.get(f"{page_url}.csv")).read()).decode("utf-8-sig")
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("rank,resident_id,") and len(lines) == 251  # a header and everyone
    # read and sent a page at a time: everyone once, in call order across the pages
    assert [line.split(",")[1] for line in lines[1:]] == [f"s-{i:03d}" for i in range(1, 251)]

    async with console.services.sessions() as s:  # the API pages them in call order
        _, token = await tokens.create(s, name="city-hall", now=now)
        await s.commit()
    api = f"/api/v1/sweeps/{page_url.rsplit('/', 1)[1]}"
    auth = {"Authorization": f"Bearer {token}"}
    first = await (await console.client.get(api, headers=auth)).json()
    rest = await (await console.client.get(f"{api}?limit=100&offset=200", headers=auth)).json()
    assert (len(first["residents"]), first["residents_total"]) == (250, 250), first["counts"]
    assert [r["resident_id"] for r in rest["residents"]] == [f"s-{i:03d}" for i in range(201, 251)]
    assert rest["residents_offset"] == 200
    too_many = await console.client.get(f"{api}?limit=1001", headers=auth)
    assert too_many.status == 400, await too_many.text()
