"""The monthly report in Chromium: its SVG pictures render under the console's CSP, the month
before is one click away, and it prints on A4 without the console's controls."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, expect

from alert_gateway.console.report import current_month, shift_month

from .browser import ARTIFACTS, own_contexts, served_console, sign_in
from .conftest import SUPERVISOR
from .factories import add_alert, add_resident

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the shared browser's loop

BAR_HEIGHTS = "bars => bars.map(b => b.getBBox().height)"


async def test_report_pictures_render_under_csp_and_print_on_a4(browser: Browser,
                                                                tmp_path: Path) -> None:
    """Three pictures drawn, nothing refused by the CSP, last month one click away, A4 print."""
    ARTIFACTS.mkdir(exist_ok=True)
    async with served_console(tmp_path) as served, own_contexts(browser):
        s = served.services
        await add_resident(s)
        now = s.clock.now()
        for seconds in (20, 45, 90, 400):
            await add_alert(s, ago=timedelta(minutes=30), status="resolved", outcome="ambulance",
                            acknowledged_at=now - timedelta(minutes=30) + timedelta(seconds=seconds))
        await add_alert(s, alarm_type="smoke", ago=timedelta(minutes=20), status="resolved",
                        outcome="accidental", acknowledged_at=now - timedelta(minutes=19))
        month = current_month(now, s.settings.timezone)

        page = await sign_in(browser, served.base, SUPERVISOR)
        refused: list[str] = []
        page.on("console", lambda m: refused.append(m.text) if _is_error(m) else None)
        await page.goto(f"{served.base}/console/report")
        await expect(page.locator("h1")).to_have_text(f"月次報告 {month}")
        for chart in ("#chart-trend", "#chart-ack", "#chart-hours"):
            box = await page.locator(chart).bounding_box()
            assert box and box["width"] > 300 and box["height"] > 100, (chart, box)
        heights = await page.locator("#chart-ack rect.bar").evaluate_all(BAR_HEIGHTS)
        assert len(heights) == 8 and sum(h > 0 for h in heights) == 4, heights
        await expect(page.locator("#chart-trend circle")).to_have_count(2)  # this month, 2 shares
        await expect(page.locator("#counts-by-type tr[data-type='smoke']")).to_contain_text("1")
        await page.screenshot(path=str(ARTIFACTS / "console-report.png"), full_page=True)

        await page.emulate_media(media="print")
        await expect(page.locator("header.top")).to_be_hidden()
        await expect(page.locator("#month-earlier")).to_be_hidden()
        pdf = await page.pdf(format="A4", prefer_css_page_size=True)
        assert pdf.startswith(b"%PDF") and re.search(rb"/MediaBox \[0 0 59[45]", pdf), pdf[:400]
        await page.emulate_media(media="screen")

        await page.click("#month-earlier")
        await expect(page.locator("h1")).to_have_text(f"月次報告 {shift_month(month, -1)}")
        assert not refused, refused


def _is_error(message: ConsoleMessage) -> bool:
    return message.type == "error"
