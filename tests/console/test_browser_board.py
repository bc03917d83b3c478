"""The board in Chromium: what needs a person comes first, the alarm is heard on every page,
the alert header stays in view after an action and a key-safe reveal ends on a GET."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from sqlmodel import select

from alert_gateway.db.auth import Operator
from alert_gateway.db.escalation import AlertResponder
from alert_gateway.db.residents import Contact, Device

from .browser import ARTIFACTS, Served, own_contexts, served_console, sign_in
from .conftest import OPERATOR
from .factories import KEY_CODE, add_alert, add_resident

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the shared browser's loop

ROW_IDS = "rows => rows.map(r => r.dataset.alertId)"


async def _board_ids(page: Page) -> list[str]:
    return await page.locator("#board-rows tr[data-alert-id]").evaluate_all(ROW_IDS)


async def _kitchen_smoke_detector(served: Served) -> None:
    async with served.services.sessions() as session:
        session.add(Device(id="smoke-001", kind="smoke_detector", resident_id="r-001",
                           location="台所"))
        await session.commit()


async def _on_the_way(served: Served, alert_id: int) -> None:
    async with served.services.sessions() as session:
        contact = (await session.exec(select(Contact).where(Contact.name == "金沢 太郎"))).one()
        assert contact.id is not None
        session.add(AlertResponder(alert_id=alert_id, contact_id=contact.id, state="accepted",
                                   updated_at=served.services.clock.now()))
        await session.commit()


async def test_board_puts_what_needs_a_person_first(browser: Browser, tmp_path: Path) -> None:
    """Untouched alerts by priority then age, then handled ones, then the resident's cancels;
    rows say where (area, sensor's room) and who is on it; a new P1 lands above handled ones;
    after an action the alert's header stays in view and a key-safe reveal ends on a GET."""
    async with served_console(tmp_path) as served, own_contexts(browser):
        s = served.services
        await add_resident(s)
        await _kitchen_smoke_detector(served)
        now = s.clock.now()
        taken = await add_alert(s, ago=timedelta(minutes=10), taken_by=OPERATOR, taken_at=now)
        acked = await add_alert(s, ago=timedelta(minutes=9), status="acknowledged",
                                acknowledged_at=now, acknowledged_by="contact:1")
        cancelled = await add_alert(s, ago=timedelta(minutes=30), status="cancelled")
        flood = await add_alert(s, alarm_type="flood", severity="P2", ago=timedelta(minutes=20))
        smoke = await add_alert(s, alarm_type="smoke", ago=timedelta(minutes=1),
                                device_id="smoke-001")
        sos = await add_alert(s, ago=timedelta(minutes=3))
        await _on_the_way(served, acked)

        page = await sign_in(browser, served.base, OPERATOR)
        expected = [sos, smoke, flood, taken, acked, cancelled]
        assert await _board_ids(page) == [str(i) for i in expected]
        smoke_row = page.locator(f"#board-rows tr[data-alert-id='{smoke}']")
        await expect(smoke_row).to_contain_text("台所")
        await expect(smoke_row).to_contain_text("金沢市広坂")
        await expect(smoke_row).to_contain_text("要対応")
        await expect(page.locator(f"#board-rows tr[data-alert-id='{sos}'] .room")).to_have_count(0)
        await expect(page.locator(f"#board-rows tr[data-alert-id='{taken}'] .on-it")
                     ).to_have_text("山田 花子")
        await expect(page.locator(f"#board-rows tr[data-alert-id='{acked}'] .on-it")
                     ).to_contain_text("金沢 太郎 向かっています")

        fresh = await add_alert(s, ago=timedelta(seconds=0))
        await served.announce(fresh)
        await expect(page.locator("#board-rows tr[data-alert-id]").nth(2)
                     ).to_have_attribute("data-alert-id", str(fresh))
        assert await _board_ids(page) == [str(i) for i in [sos, smoke, fresh, flood, taken,
                                                           acked, cancelled]]
        await _header_stays_and_reveal_ends_on_a_get(page, served, sos)


async def _header_stays_and_reveal_ends_on_a_get(page: Page, served: Served, alert_id: int) -> None:
    """After taking the alert its header is still on screen; the key-safe code is shown on a
    GET page (a reload re-posts nothing) and is masked again on a plain visit."""
    await page.locator(f"#board-rows tr[data-alert-id='{alert_id}'] a.row-link").click()
    await page.set_viewport_size({"width": 1280, "height": 600})
    await page.click("#take")
    await expect(page.locator("#alert-taken-by")).to_have_text("山田 花子")
    await expect(page.locator("#alert-header h1")).to_be_in_viewport()
    await expect(page.locator("#actions")).to_be_in_viewport()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "console-alert-after-take.png"))

    await page.click("form[action$='/reveal-key'] button")
    await expect(page.locator("#key-code")).to_have_text(KEY_CODE)
    assert "/reveal-key" not in page.url and "revealed=" in page.url, page.url
    await page.reload()  # a GET: no "resubmit the form?" and no second reveal logged
    await expect(page.locator("#key-code")).to_have_text(KEY_CODE)
    await page.goto(f"{served.base}/console/alerts/{alert_id}")
    await expect(page.locator("#key-code")).to_have_text("••••")


async def test_alarm_sounds_on_a_residents_page_and_sound_off_is_kept(browser: Browser,
                                                                      tmp_path: Path) -> None:
    """An operator reading a resident's record hears and sees a new P1; turning the sound off
    shows a warning on every page, and the choice is kept on the operator's account."""
    async with served_console(tmp_path) as served, own_contexts(browser):
        await add_resident(served.services)
        page = await sign_in(browser, served.base, OPERATOR)
        await page.goto(f"{served.base}/console/residents/r-001")
        body = page.locator("body")
        await expect(body).to_have_attribute("data-stream", "open")
        await expect(body).to_have_attribute("data-alarm", "off")

        alert_id = await add_alert(served.services)
        await served.announce(alert_id)
        await expect(body).to_have_attribute("data-alarm", "on")
        await expect(body).to_have_attribute("data-sound", "playing")
        await expect(page).to_have_title(re.compile("^【新規通報】"))  # flashing

        await page.click("#sound-toggle")
        await expect(page.locator("#sound-off")).to_have_text("警報音オフ")
        assert page.url.endswith("/console/residents/r-001"), page.url
        await expect(body).to_have_attribute("data-alarm", "on")  # the title still flashes
        await expect(body).to_have_attribute("data-sound", "off")

        elsewhere = await page.context.new_page()  # the board in another tab: still off
        await elsewhere.goto(f"{served.base}/console/")
        await expect(elsewhere.locator("#sound-off")).to_be_visible()
        async with served.services.sessions() as session:
            me = (await session.exec(select(Operator).where(Operator.name == OPERATOR))).one()
        assert me.sound_on is False

        await elsewhere.click("#sound-toggle")
        await expect(elsewhere.locator("#sound-off")).to_have_count(0)
        await expect(elsewhere.locator("body")).to_have_attribute("data-sound", "playing")
