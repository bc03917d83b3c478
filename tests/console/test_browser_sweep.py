"""The disaster sweep in Debian's Chromium: started in two clicks, its page shows answers as they
come, without a reload."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect
from sqlmodel import select

from alert_gateway.bus import ChangeKind
from alert_gateway.db.models import EntryState, SweepEntry

from .browser import ARTIFACTS, own_contexts, served_console, sign_in
from .conftest import SUPERVISOR
from .factories import add_alert, add_resident

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the shared browser's loop


async def test_a_sweep_started_in_two_clicks_shows_an_answer_live(
        tmp_path: Path, browser: Browser) -> None:
    """Everyone (the default) + Start; a resident's 1 then appears on the open page."""
    ARTIFACTS.mkdir(exist_ok=True)
    async with served_console(tmp_path) as served, own_contexts(browser):
        await add_resident(served.services, "r-001")
        await add_resident(served.services, "r-002", device_id="pendant-002", name="犀川 次郎")
        page = await sign_in(browser, served.base, SUPERVISOR)
        await page.goto(f"{served.base}/console/sweeps")
        await page.click("#sweep-start button.primary")
        await expect(page.locator("#sweep-live td[data-state='waiting']")).to_have_text("2")

        async with served.services.sessions() as session:
            entry = (await session.exec(
                select(SweepEntry).where(SweepEntry.resident_id == "r-002"))).one()
            entry.state = EntryState.FINE.value  # as the runner records a pressed 1
            await session.commit()
        await served.announce(await add_alert(served.services), ChangeKind.OPENED)

        await expect(page.locator("#sweep-live tr[data-resident='r-002']")).to_have_attribute(
            "data-state", "fine")
        await expect(page.locator("#sweep-live td[data-state='fine']")).to_have_text("1")
        await page.screenshot(path=str(ARTIFACTS / "console-sweep.png"), full_page=True)
