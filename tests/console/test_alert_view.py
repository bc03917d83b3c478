"""The alert view and the operator actions, through HTTP with a session and CSRF token."""

from __future__ import annotations

from sqlmodel import col, select

from alert_gateway.clock import FakeClock
from alert_gateway.db.alerts import Alert, AlertEvent

from .conftest import OPERATOR, SUPERVISOR, Console
from .factories import KEY_CODE, add_alert, add_resident


async def _events(console: Console, alert_id: int) -> list[AlertEvent]:
    async with console.services.sessions() as session:
        query = select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(col(AlertEvent.id))
        return list((await session.exec(query)).all())


async def _alert(console: Console, alert_id: int) -> Alert:
    async with console.services.sessions() as session:
        alert = await session.get(Alert, alert_id)
        assert alert is not None
        return alert


async def test_alert_view_shows_the_resident_card_with_the_code_masked(console: Console) -> None:
    """Name, kana, age, oxygen, GP and a map link are shown; the key-safe code is not."""
    await add_resident(console.services)
    alert_id = await add_alert(console.services)
    await console.sign_in()
    page = await (await console.client.get(f"/console/alerts/{alert_id}")).text()
    for text in ("金沢 ハナ", "カナザワ ハナ", "88歳", "金沢市民病院", "google.com/maps/search",
                 "金沢 太郎", "pendant-001", "87%"):
        assert text in page, text
    assert KEY_CODE not in page


async def test_reveal_shows_the_code_once_and_logs_who_saw_it(console: Console) -> None:
    """Revealing the key-safe code puts the operator on the timeline, never the code; the code is
    shown on the GET the post redirects to, to that operator only and only for a short while."""
    await add_resident(console.services)
    alert_id = await add_alert(console.services)
    csrf = await console.sign_in()
    response = await console.client.post(f"/console/alerts/{alert_id}/reveal-key",
                                         data={"csrf_token": csrf}, allow_redirects=False)
    assert response.status == 303, await response.text()
    shown_at = response.headers["Location"]
    assert shown_at.startswith(f"/console/alerts/{alert_id}?revealed="), shown_at
    assert KEY_CODE in await (await console.client.get(shown_at)).text()
    events = await _events(console, alert_id)
    revealed = [e for e in events if e.kind == "key_code_revealed"]
    assert len(revealed) == 1 and revealed[0].actor == f"operator:{OPERATOR}"
    assert all(KEY_CODE not in e.message for e in events)
    again = await (await console.client.get(f"/console/alerts/{alert_id}")).text()
    assert KEY_CODE not in again
    clock = console.services.clock
    assert isinstance(clock, FakeClock)
    await clock.advance(minutes=3)
    assert KEY_CODE not in await (await console.client.get(shown_at)).text()


async def test_someone_elses_reveal_link_shows_nothing(console: Console) -> None:
    """The address of another operator's reveal does not show the code to whoever opens it."""
    await add_resident(console.services)
    alert_id = await add_alert(console.services)
    csrf = await console.sign_in()
    response = await console.client.post(f"/console/alerts/{alert_id}/reveal-key",
                                         data={"csrf_token": csrf}, allow_redirects=False)
    shown_at = response.headers["Location"]
    console.client.session.cookie_jar.clear()
    await console.sign_in(SUPERVISOR)
    page = await (await console.client.get(shown_at)).text()
    assert KEY_CODE not in page and "••••" in page
    for hostile in ("x", "-1", "99999999999999999999", "１"):
        page = await (await console.client.get(f"/console/alerts/{alert_id}?revealed={hostile}")).text()
        assert KEY_CODE not in page


async def test_actions_go_on_the_timeline_with_the_operator(console: Console) -> None:
    """Take, acknowledge, note and resolve each add an entry naming the operator."""
    await add_resident(console.services)
    alert_id = await add_alert(console.services)
    csrf = await console.sign_in()
    for action, data in (("take", {}), ("acknowledge", {}), ("note", {"text": "本人と通話、転倒なし"}),
                         ("resolve", {"outcome": "accidental", "note": "押し間違い"})):
        response = await console.client.post(f"/console/alerts/{alert_id}/{action}",
                                             data={"csrf_token": csrf, **data},
                                             allow_redirects=False)
        assert response.status == 303, (action, await response.text())
    alert = await _alert(console, alert_id)
    assert alert.status == "resolved" and alert.outcome == "accidental"
    assert alert.taken_by == OPERATOR and alert.acknowledged_by == f"operator:{OPERATOR}"
    kinds = {e.kind: e.actor for e in await _events(console, alert_id)}
    for kind in ("taken", "acknowledged", "note", "resolved"):
        assert kinds[kind] == f"operator:{OPERATOR}", kind
    clock = console.services.clock
    assert isinstance(clock, FakeClock)
    await clock.advance(minutes=5)
    page = await (await console.client.get(f"/console/alerts/{alert_id}")).text()
    assert "山田 花子" in page and "本人と通話、転倒なし" in page
    # Closed: the elapsed time stops at the resolution (40 s after the alarm), not at now.
    elapsed = page[page.index('id="alert-elapsed"'):].split("</time>")[0]
    assert "data-until=" in elapsed and elapsed.endswith(">0:40"), elapsed


async def test_resolve_needs_an_outcome(console: Console) -> None:
    """Resolving without an outcome is refused and the alert stays open."""
    await add_resident(console.services)
    alert_id = await add_alert(console.services)
    csrf = await console.sign_in()
    response = await console.client.post(f"/console/alerts/{alert_id}/resolve",
                                         data={"csrf_token": csrf, "outcome": ""})
    assert response.status == 400
    assert (await _alert(console, alert_id)).status == "open"


async def test_a_second_operator_sees_it_taken_and_must_take_over(console: Console) -> None:
    """Once taken, another operator's plain take is a conflict; taking over is explicit."""
    await add_resident(console.services)
    alert_id = await add_alert(console.services)
    csrf = await console.sign_in()
    await console.client.post(f"/console/alerts/{alert_id}/take", data={"csrf_token": csrf})
    await console.client.post("/console/logout", data={"csrf_token": csrf})
    csrf = await console.sign_in(SUPERVISOR)
    board = await (await console.client.get("/console/api/board")).json()
    assert board["alerts"][0]["taken_by"] == OPERATOR
    response = await console.client.post(f"/console/alerts/{alert_id}/take",
                                         data={"csrf_token": csrf})
    assert response.status == 409
    response = await console.client.post(f"/console/alerts/{alert_id}/take",
                                         data={"csrf_token": csrf, "force": "1"})
    assert response.status == 200
    assert (await _alert(console, alert_id)).taken_by == SUPERVISOR


async def test_board_orders_by_severity_then_age(console: Console) -> None:
    """A newer P1 comes before an older P2; two P1s by age."""
    from datetime import timedelta

    await add_resident(console.services)
    p2 = await add_alert(console.services, alarm_type="flood", severity="P2",
                         ago=timedelta(minutes=10))
    newer = await add_alert(console.services, ago=timedelta(seconds=5))
    older = await add_alert(console.services, alarm_type="fall", ago=timedelta(minutes=2))
    await console.sign_in()
    board = await (await console.client.get("/console/api/board")).json()
    assert [a["id"] for a in board["alerts"]] == [older, newer, p2]
    assert board["alerts"][0]["urgent"] is True
