"""An alarm stored by replica A shows on the live board that replica B serves, within a second."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from playwright.async_api import async_playwright, expect

from alert_gateway.bus import AlertChange, ChangeKind
from alert_gateway.clock import FakeClock
from alert_gateway.db.alerts import Alert
from alert_gateway.gateway import Gateway
from alert_gateway.twilio.fake_server import make_fake_twilio_app
from alert_gateway.web.app import make_app
from tests.conftest import create_schema
from tests.console.browser import CHROMIUM, LAUNCH_ARGS, serve, sign_in
from tests.console.conftest import OPERATOR, PASSWORD, add_accounts
from tests.console.factories import add_resident
from tests.escalation.env import ACCOUNT_SID, AUTH_TOKEN
from tests.harness import WAIT_SECONDS, device_client

from .env import replica, terminate_listen_backend

ANSWER_SECONDS = 1.0  # the target: a board learns of another replica's alarm within a second
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _root() -> str:
    return f"agtest-{uuid.uuid4().hex[:10]}/eldercare/v1/devices"


@asynccontextmanager
async def two_replicas(pg_url: str,
                       clock: FakeClock) -> AsyncIterator[tuple[Gateway, Gateway, str, str]]:
    """A takes alarms from the broker (its own topic root); B, on another root, serves the console."""
    await create_schema(pg_url)
    root_a = _root()
    async with TestServer(make_fake_twilio_app(auth_token=AUTH_TOKEN,
                                               account_sid=ACCOUNT_SID)) as twilio:
        fake = {"twilio_api_base": str(twilio.make_url("")).rstrip("/"),
                "twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": AUTH_TOKEN}
        async with replica(pg_url, root_a, clock, **fake) as (a, _), \
                replica(pg_url, _root(), clock, **fake) as (b, _):
            await add_accounts(b.services)
            async with serve(make_app(b.services, b)) as base_b:
                yield a, b, root_a, base_b


def _stored_on(gateway: Gateway) -> asyncio.Future[float]:
    """When `gateway` published its stored alarm, after its commit: the target's second counts from
    there (A's own ingest time, which a loaded machine stretches, is not what B is measured on)."""
    loop = asyncio.get_running_loop()
    stored: asyncio.Future[float] = loop.create_future()

    async def note(change: AlertChange) -> None:
        if change.kind is ChangeKind.STORED and not stored.done():
            stored.set_result(loop.time())

    gateway.services.bus.subscribe(note, remote=False)
    return stored


async def _events(http: aiohttp.ClientSession, base: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Sign in as the operator and yield (event, data) from the console's event stream."""
    async with http.get(f"{base}/console/login", headers={"Accept": "text/html"}) as page:
        token = _CSRF.search(await page.text())
    assert token, "no CSRF token on the sign-in page"
    async with http.post(f"{base}/console/login", allow_redirects=False, data={
            "name": OPERATOR, "password": PASSWORD, "csrf_token": token[1]}) as signed_in:
        assert signed_in.status == 303, await signed_in.text()
    async with http.get(f"{base}/console/events") as stream:
        assert stream.status == 200
        event, data = "", ""
        async for raw in stream.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif not line and event:
                yield event, json.loads(data)
                event, data = "", ""


async def test_b_event_stream_tells_of_an_alarm_stored_by_a(pg_url: str) -> None:
    """B's event stream carries the alert that A stored from the broker, within a second."""
    clock = FakeClock(datetime.now(UTC))
    async with two_replicas(pg_url, clock) as (a, _b, root_a, base_b), \
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        device_id = f"pendant-{uuid.uuid4().hex[:6]}"
        await add_resident(a.services, device_id=device_id)
        stream = _events(http, base_b)
        async with asyncio.timeout(WAIT_SECONDS):
            assert (await anext(stream))[0] == "refresh"  # the stream is open
        stored_on_a = _stored_on(a)
        async with device_client(root_a, clock=clock) as devices:
            await devices.alarm(device_id, "m-1", "sos")
            try:
                async with asyncio.timeout(WAIT_SECONDS):
                    event, data = await anext(stream)
            except TimeoutError:
                raise AssertionError(f"B's event stream said nothing for {WAIT_SECONDS} s after "
                                     "A took the alarm in") from None
            took = asyncio.get_running_loop().time() - await stored_on_a
        async with a.services.sessions() as session:
            stored = await session.get(Alert, data.get("alert_id"))
        assert (event, stored is not None) == ("alert", True), (event, data)
        assert stored is not None and stored.device_id == device_id
        assert took < ANSWER_SECONDS, f"B heard of A's alarm {took:.2f} s after A stored it"
        await stream.aclose()


async def test_b_board_in_a_browser_shows_an_alarm_stored_by_a(pg_url: str) -> None:
    """Chromium signed in on B: a pendant press taken in by A appears on the board within a second."""
    clock = FakeClock(datetime.now(UTC))  # near real time: the page's elapsed counters stay sane
    async with two_replicas(pg_url, clock) as (a, _b, root_a, base_b), async_playwright() as pw:
        device_id = f"pendant-{uuid.uuid4().hex[:6]}"
        await add_resident(a.services, device_id=device_id)
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            expect.set_options(timeout=WAIT_SECONDS * 1000)
            page = await sign_in(browser, base_b, OPERATOR)
            await expect(page.locator("#board-rows")).to_contain_text("対応中の通報はありません")
            stored_on_a = _stored_on(a)
            async with device_client(root_a, clock=clock) as devices:
                await devices.alarm(device_id, "m-1", "sos")
                # Checked on every animation frame: `expect` polls at 500 ms once past 0.27 s,
                # which alone could make a 0.8 s board look 1.3 s late.
                await page.wait_for_function(
                    """name => [...document.querySelectorAll("#board-rows tr[data-urgent='1']")]
                        .some(tr => tr.textContent.includes(name) && tr.checkVisibility())""",
                    arg="金沢 ハナ", timeout=WAIT_SECONDS * 1000)
                took = asyncio.get_running_loop().time() - await stored_on_a
                row = page.locator("#board-rows tr[data-urgent='1']", has_text="金沢 ハナ")
                await expect(row).to_be_visible()
            assert took < ANSWER_SECONDS, f"B's board showed A's alarm {took:.2f} s after A stored it"
        finally:
            await browser.close()


async def test_b_pages_re_read_the_board_after_b_lost_its_listen_connection(pg_url: str) -> None:
    """Notices may have been missed while B's listen session was down: its pages are told to re-read."""
    clock = FakeClock(datetime.now(UTC))
    async with two_replicas(pg_url, clock) as (_a, b, _root_a, base_b), \
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        stream = _events(http, base_b)
        async with asyncio.timeout(WAIT_SECONDS):
            assert (await anext(stream))[0] == "refresh"  # the stream is open
            assert b.services.replicas is not None
            assert await terminate_listen_backend(b.services.replicas.application_name) == 1
            assert await anext(stream) == ("refresh", {"missed": True})
        await stream.aclose()
