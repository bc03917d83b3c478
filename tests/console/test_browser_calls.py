"""Click-to-call in Debian's Chromium: one click, the fake's phones show the bridge, the timeline
tells the story, without a reload."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect

from .browser import ARTIFACTS, own_contexts, sign_in
from .calls_env import OPERATOR_PHONE, calling
from .conftest import OPERATOR

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the shared browser's loop
DAUGHTER = "+819011112222"


async def test_call_button_bridges_through_the_fake(sqlite_url: str, browser: Browser) -> None:
    """The operator clicks 電話する beside the daughter's number; their own phone rings, then the
    daughter's, and the alert's timeline shows the call and its length live."""
    ARTIFACTS.mkdir(exist_ok=True)
    async with calling(sqlite_url) as env, own_contexts(browser):
        await env.set_phone(OPERATOR, OPERATOR_PHONE)
        page = await sign_in(browser, env.base, OPERATOR)
        await page.goto(f"{env.base}/console/alerts/{env.alert_id}")
        await expect(page.locator("#call-info")).to_contain_text(OPERATOR_PHONE)
        await expect(page.locator("#call-info")).to_contain_text("119")
        # The panel re-reads itself once the event stream opens; a click while its rows are
        # swapped can press a button that is gone, so click once it has.
        await expect(page.locator("body")).to_have_attribute("data-refreshed", re.compile(r"\d"))
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
