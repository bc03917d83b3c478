"""Shift handover: a note with the open alerts, shown to the next operator when they sign in."""

from __future__ import annotations

from datetime import timedelta

from alert_gateway.console import handover

from .conftest import OPERATOR, PASSWORD, SUPERVISOR, Console
from .factories import add_alert, add_resident


async def _sign_in(console: Console, name: str) -> str:
    """Where the sign-in form sends `name` (the Location of its redirect)."""
    token = await console.csrf_of("/console/login")
    response = await console.client.post(
        "/console/login", data={"name": name, "password": PASSWORD, "csrf_token": token,
                                "next": "/console/residents"}, allow_redirects=False)
    assert response.status == 303, await response.text()
    return response.headers["Location"]


async def test_the_next_operator_reads_the_handover_at_sign_in(console: Console) -> None:
    """The night operator's note, with the alert still open, greets the morning operator once;
    the author is not sent to their own note, and every note is kept."""
    await add_resident(console.services)
    alert_id = await add_alert(console.services)
    assert await _sign_in(console, SUPERVISOR) == "/console/residents"  # no note yet
    csrf = await console.csrf_of("/console/handover")
    response = await console.client.post("/console/handover", data={
        "csrf_token": csrf, "text": "  "}, headers={"Accept": "text/html"})
    assert response.status == 400 and "引き継ぎ内容を書いてください" in await response.text()
    response = await console.client.post("/console/handover", data={
        "csrf_token": csrf, "text": "金沢さんは朝に家族が訪問予定。"}, allow_redirects=False)
    assert response.status == 303, await response.text()
    assert await _sign_in(console, SUPERVISOR) == "/console/residents"  # their own note

    landing = await _sign_in(console, OPERATOR)
    assert landing == "/console/handover?signed_in=1&next=/console/residents"
    page = await (await console.client.get(landing, headers={"Accept": "text/html"})).text()
    assert "前のシフトからの引き継ぎがあります" in page
    assert "金沢さんは朝に家族が訪問予定。" in page and "佐藤 主任" in page
    assert f'href="/console/alerts/{alert_id}"' in page and "金沢 ハナ" in page
    assert 'href="/console/residents" id="handover-continue"' in page
    assert await _sign_in(console, OPERATOR) == "/console/residents"  # read: not again

    csrf = await console.csrf_of("/console/handover")
    await console.client.post("/console/handover", data={"csrf_token": csrf, "text": "異常なし"})
    page = await (await console.client.get("/console/handover")).text()
    assert page.index("異常なし") < page.index("金沢さんは朝に家族が訪問予定。")  # both kept

HTML = {"Accept": "text/html"}


async def test_after_a_disaster_a_note_names_the_most_urgent_open_alerts_and_counts_them_all(
        console: Console) -> None:
    """With more alerts open than a note names, the note keeps the most urgent ones (the P1s
    before the P3s) and says how many more were open, on the form and on the note."""
    await add_resident(console.services)
    unnamed = 7
    p3s = [await add_alert(console.services, severity="P3", ago=timedelta(minutes=30))
           for _ in range(unnamed)]
    p1s = [await add_alert(console.services) for _ in range(handover.NAMED)]
    await _sign_in(console, SUPERVISOR)
    csrf = await console.csrf_of("/console/handover")
    form = await (await console.client.get("/console/handover", headers=HTML)).text()
    assert f"いま未完了の通報 {handover.NAMED + unnamed}件" in form
    assert f"ほか {unnamed}件（引き継ぎには緊急度の高い {handover.NAMED}件 のみ記載" in form
    response = await console.client.post("/console/handover", data={
        "csrf_token": csrf, "text": "地震の後。P1を優先。"}, allow_redirects=False)
    assert response.status == 303, await response.text()
    page = await (await console.client.get("/console/handover", headers=HTML)).text()
    note = page[page.index("地震の後。P1を優先。"):page.index('id="h-write"')]
    assert f"書いた時点で未完了だった通報（{handover.NAMED + unnamed}件）" in note
    assert all(f'href="/console/alerts/{i}"' in note for i in p1s)
    assert not any(f'href="/console/alerts/{i}"' in note for i in p3s), note
    assert f"ほか {unnamed}件" in note
