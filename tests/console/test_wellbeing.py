"""Wellbeing calls on the console and the API: set the schedule, see the history and the report."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from alert_gateway.access import tokens
from alert_gateway.db.models import Device, Resident, WellbeingCall
from alert_gateway.wellbeing.check_call import check_call

from .conftest import SUPERVISOR, Console
from .factories import add_resident


async def _resident(console: Console, resident_id: str) -> Resident | None:
    async with console.services.sessions() as s:
        return (await s.exec(select(Resident).where(Resident.id == resident_id))).first()


async def test_a_supervisor_sets_the_schedule_in_the_form_and_the_api(console: Console) -> None:
    """The form takes the Japanese spelling; the API sets and stops it; bad windows are refused."""
    csrf = await console.sign_in(SUPERVISOR)
    response = await console.client.post("/console/residents", data={
        "csrf_token": csrf, "id": "r-900", "name": "野町 ウメ", "phone": "076-220-1234",
        "wellbeing_schedule": "毎週月曜 10:00-11:00"}, allow_redirects=False)
    assert response.status == 303, await response.text()
    created = await _resident(console, "r-900")
    assert created and (created.wellbeing_schedule, created.wellbeing_timezone) == (
        "weekly mon 10:00-11:00", "Asia/Tokyo")
    bad = await console.client.post("/console/residents/r-900", data={
        "csrf_token": csrf, "name": "野町 ウメ", "wellbeing_schedule": "毎週月曜 11:00-10:00"})
    assert bad.status == 400 and "wellbeing_schedule" in await bad.text()
    page = await (await console.client.get("/console/residents/r-900")).text()
    assert "weekly mon 10:00-11:00" in page and "まだお元気コールはありません" in page

    async with console.services.sessions() as s:
        _, token = await tokens.create(s, name="city", now=console.services.clock.now())
        await s.commit()
    auth = {"Authorization": f"Bearer {token}"}
    url = "/api/v1/residents/r-900/wellbeing"
    put = await console.client.put(url, json={"schedule": "monthly 1 14:00-16:00"}, headers=auth)
    assert put.status == 200, await put.text()
    assert (await put.json())["schedule"] == "monthly 1 14:00-16:00"
    conflict = await console.client.put(url, json={"schedule": "weekly mon 11:00-10:00"},
                                        headers=auth)
    assert conflict.status == 409, await conflict.text()
    stopped = await console.client.put(url, json={"schedule": None}, headers=auth)
    assert (await stopped.json())["schedule"] is None
    got = await (await console.client.get(url, headers=auth)).json()
    assert (got["schedule"], got["timezone"], got["channel"], got["calls"]) == (
        None, "Asia/Tokyo", "voice", [])


async def test_history_and_the_monthly_report(console: Console) -> None:
    """One resident answered, one was never reached (his last check-in beside him)."""
    services = console.services
    now = services.clock.now()
    await add_resident(services, "r-001")
    await add_resident(services, "r-002", device_id="pendant-002", name="犀川 次郎")
    async with services.sessions() as s:
        device = await s.get(Device, "pendant-002")
        assert device is not None
        device.last_test_at = now - timedelta(days=2)
        for resident_id, statuses, state in (("r-001", ["accepted"], "fine"),
                                             ("r-002", ["not_reached"] * 3, "not_reached")):
            for status in statuses:
                attempt = check_call(to_number="+81762201111", language="ja", centre="centre",
                                     now=now - timedelta(hours=1))
                attempt.status = status
                s.add(attempt)
            s.add(WellbeingCall(resident_id=resident_id, window_start=now - timedelta(hours=2),
                                window_end=now - timedelta(hours=1), state=state,
                                due_at=now - timedelta(hours=1), tries=len(statuses),
                                created_at=now, updated_at=now))
        await s.commit()
    await console.sign_in(SUPERVISOR)
    page = await (await console.client.get("/console/residents/r-001")).text()
    assert "元気(1)" in page
    month = now.astimezone().strftime("%Y-%m")
    report = await (await console.client.get(f"/console/report?month={month}")).text()
    assert '<dd id="wellbeing-calls">4</dd>' in report and "25.0%" in report
    never = report.split('id="wellbeing-never-reached"')[1].split("</table>")[0]
    assert "r-002" in never and "r-001" not in never
    csv = (await (await console.client.get(f"/console/report.csv?month={month}")).read()).decode(
        "utf-8-sig")
    assert "wellbeing,calls,4" in csv and "wellbeing,answered_percent,25.0" in csv
    assert "wellbeing_never_reached,r-002," in csv
