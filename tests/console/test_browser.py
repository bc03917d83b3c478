"""The operator's story in real headless Chromium (Debian's /usr/bin/chromium, never downloaded).

Sign in; an alarm published on the real broker appears on the board without a reload and sounds;
take, acknowledge, resolve with an outcome; the timeline shows it; a second operator sees it taken.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect

from alert_gateway.clock import FakeClock
from alert_gateway.console.keys import HUB
from alert_gateway.twilio.fake_server import make_fake_twilio_app
from alert_gateway.web.app import make_app

from ..harness import device_client, gateway_settings, running_gateway
from .browser import ARTIFACTS, own_contexts, serve, sign_in
from .conftest import OPERATOR, SUPERVISOR, add_accounts
from .factories import add_resident

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the shared browser's loop


async def test_operator_story(browser: Browser, tmp_path: Path, topic_root: str) -> None:
    """An alarm from the broker reaches the board live and is worked to resolution by two operators."""
    ARTIFACTS.mkdir(exist_ok=True)
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    clock = FakeClock(datetime.now(UTC))  # near real time: the page's elapsed counters stay sane
    fake_twilio = make_fake_twilio_app(auth_token="fake-token", account_sid="AC" + "0" * 32)
    async with TestServer(fake_twilio) as twilio_server:
        settings = gateway_settings(
            sqlite_url, topic_root, twilio_api_base=str(twilio_server.make_url("")).rstrip("/"),
            twilio_auth_token="fake-token", dispatch_phone="+81762200000")
        async with running_gateway(settings, clock=clock) as (gateway, _changes):
            services = gateway.services
            await add_accounts(services)
            device_id = f"pendant-{uuid.uuid4().hex[:6]}"
            await add_resident(services, device_id=device_id)
            await add_resident(services, "r-002", device_id=f"{device_id}-b", name="犀川 タロウ")
            app = make_app(services, gateway)
            async with serve(app) as base, own_contexts(browser):
                await _story(browser, base, app, device_id, topic_root, clock)


async def _story(browser: Browser, base: str, app: web.Application, device_id: str,
                 topic_root: str, clock: FakeClock) -> None:
    first = await sign_in(browser, base, OPERATOR)
    second = await sign_in(browser, base, SUPERVISOR)
    await expect(first.locator("#board-rows")).to_contain_text("対応中の通報はありません")

    async with device_client(topic_root, clock=clock) as devices:
        await devices.alarm(device_id, f"m-{uuid.uuid4().hex[:8]}", "sos")
        row = first.locator("#board-rows tr[data-urgent='1']", has_text="金沢 ハナ")
        await expect(row).to_be_visible()  # no reload: the event stream brought it
        await expect(row).to_contain_text("緊急ボタン")
        await expect(first.locator("body")).to_have_attribute("data-alarm", "on")
        await expect(second.locator("#board-rows")).to_contain_text("金沢 ハナ")
        await first.screenshot(path=str(ARTIFACTS / "console-board.png"), full_page=True)

        # The stream drops (proxy restart, Wi-Fi): the page reconnects and catches up.
        await app[HUB].close()
        await devices.alarm(f"{device_id}-b", f"m-{uuid.uuid4().hex[:8]}", "smoke")
    await expect(first.locator("#board-rows")).to_contain_text("犀川 タロウ")
    await expect(second.locator("#board-rows")).to_contain_text("犀川 タロウ")

    await row.locator("a.row-link").click()
    await expect(first.locator("h1")).to_contain_text("緊急ボタン")
    await expect(first.locator("#key-code")).to_have_text("••••")
    await first.click("#take")
    await expect(first.locator("#alert-taken-by")).to_have_text("山田 花子")
    taken_row = second.locator("#board-rows tr", has_text="金沢 ハナ")
    await expect(taken_row).to_contain_text("山田 花子")  # the second operator sees it taken

    await first.click("#acknowledge")
    await expect(first.locator("#alert-status")).to_have_text("応答済")
    await first.select_option("#outcome", "accidental")
    await first.fill("#outcome-note", "押し間違い。本人と通話済み。")
    await first.click("#resolve")
    await expect(first.locator("#alert-status")).to_have_text("完了")
    timeline = first.locator("#timeline")
    for label in ("通報受信", "担当", "応答", "完了"):
        await expect(timeline.locator("li", has_text=label).first).to_be_visible()
    await expect(timeline).to_contain_text("山田 花子")
    await first.screenshot(path=str(ARTIFACTS / "console-alert.png"), full_page=True)

    await expect(second.locator("#board-rows tr", has_text="金沢 ハナ")).to_have_count(0)
    await expect(second.locator("#board-rows tr", has_text="犀川 タロウ")).to_have_count(1)
