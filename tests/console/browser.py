"""What the console's Chromium tests share: Debian's browser, a served app, a signed-in page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from playwright.async_api import Browser, Page, expect

from alert_gateway.bus import AlertChange, ChangeKind
from alert_gateway.clock import FakeClock
from alert_gateway.services import Services, build_services
from alert_gateway.settings import Settings
from alert_gateway.web.app import make_app

from ..conftest import create_schema
from .conftest import PASSWORD, add_accounts

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               "--autoplay-policy=no-user-gesture-required"]
WAIT_MS = 15_000  # a bound for each expectation, not a pause

# No skip: scripts/setup.sh installs Debian's chromium; without it these tests must fail, loudly.
assert CHROMIUM.exists(), "install Debian's chromium (scripts/setup.sh does): apt-get install chromium"


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run `app` on a free loopback port in this loop; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@dataclass
class Served:
    """The console app on a real port (no gateway, no broker) and the services behind it."""

    base: str
    services: Services

    async def announce(self, alert_id: int, kind: ChangeKind = ChangeKind.OPENED) -> None:
        """Tell the live pages an alert changed, as a committed unit of work does."""
        await self.services.bus.publish(AlertChange(alert_id, kind))


@asynccontextmanager
async def served_console(tmp_path: Path) -> AsyncIterator[Served]:
    """A fresh SQLite console with the two accounts, its clock near real time (page timers)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'browser.db'}"
    await create_schema(url)
    services = build_services(Settings(database_url=url), clock=FakeClock(datetime.now(UTC)))
    await add_accounts(services)
    try:
        async with serve(make_app(services)) as base:
            yield Served(base, services)
    finally:
        await services.close()


async def sign_in(browser: Browser, base: str, name: str) -> Page:
    """A new browser context (its own cookies) signed in as `name`, on the board."""
    expect.set_options(timeout=WAIT_MS)
    context = await browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto(f"{base}/console/")
    await page.fill("#name", name)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("#live-status")).to_have_text("リアルタイム更新中")
    return page


@asynccontextmanager
async def own_contexts(browser: Browser) -> AsyncIterator[Browser]:
    """Close the contexts a test opened on the shared browser, whatever the test's end."""
    try:
        yield browser
    finally:
        for context in browser.contexts:
            await context.close()
