"""Click-to-call in Debian's Chromium: one click, the fake's phones show the bridge, the timeline
tells the story, without a reload."""

from __future__ import annotations

from playwright.async_api import async_playwright, expect

from .calls_env import OPERATOR_PHONE, calling
from .conftest import OPERATOR
from .test_browser import ARTIFACTS, CHROMIUM, LAUNCH_ARGS, WAIT_MS, sign_in

DAUGHTER = "+819011112222"


async def test_call_button_bridges_through_the_fake(sqlite_url: str) -> None:
    """The operator clicks 電話する beside the daughter's number; their own phone rings, then the
    daughter's, and the alert's timeline shows the call and its length live."""
    ARTIFACTS.mkdir(exist_ok=True)
    expect.set_options(timeout=WAIT_MS)
    async with calling(sqlite_url) as env, async_playwright() as pw:
        await env.set_phone(OPERATOR, OPERATOR_PHONE)
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            page = await sign_in(browser, env.base, OPERATOR)
            await page.goto(f"{env.base}/console/alerts/{env.alert_id}")
            await expect(page.locator("#call-info")).to_contain_text(OPERATOR_PHONE)
            await expect(page.locator("#call-info")).to_contain_text("119")
            row = page.locator("#alert-live tr", has_text=DAUGHTER)
            await row.locator("button.call").click()
            timeline = page.locator("#timeline")
            await expect(timeline).to_contain_text(f"まず担当者の電話 {OPERATOR_PHONE}")
            await expect(timeline).to_contain_text("金沢 太郎 と通話しました")

            phones = await page.context.new_page()
            await phones.goto(env.fake_base + "/")
            operator_phone = phones.locator(".phone", has_text="📱 " + OPERATOR_PHONE)
            await expect(operator_phone).to_contain_text("発信 / dialled: " + DAUGHTER)
            daughter_phone = phones.locator(".phone", has_text="📱 " + DAUGHTER)
            await expect(daughter_phone).to_contain_text("転送通話 / bridged call: " + OPERATOR_PHONE)
            await phones.screenshot(path=str(ARTIFACTS / "fake-phones-bridge.png"), full_page=True)
            await page.screenshot(path=str(ARTIFACTS / "console-call.png"), full_page=True)
        finally:
            await browser.close()
