"""Console fixtures: an app on a fresh SQLite database with one operator and one supervisor."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, async_playwright

from alert_gateway.clock import FakeClock
from alert_gateway.console.passwords import hash_password
from alert_gateway.db.auth import Operator, Role
from alert_gateway.services import Services, build_services
from alert_gateway.settings import Settings
from alert_gateway.web.app import make_app

from ..conftest import create_schema

PASSWORD = "correct-horse-battery"
OPERATOR = "hanako"
SUPERVISOR = "sato"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@cache
def _password_hash() -> str:
    return hash_password(PASSWORD)  # once per test process: argon2 takes 0.13 s here, on purpose


async def add_accounts(services: Services) -> None:
    """One operator and one supervisor, both with PASSWORD (rows as `accounts.create` writes them,
    whose own checks are tested with the accounts pages and commands)."""
    async with services.sessions() as session:
        for name, role, shown in ((OPERATOR, Role.OPERATOR, "山田 花子"),
                                  (SUPERVISOR, Role.SUPERVISOR, "佐藤 主任")):
            session.add(Operator(name=name, role=role.value, display_name=shown,
                                 password_hash=_password_hash(), created_at=services.clock.now()))
        await session.commit()


@dataclass
class Console:
    """A test client on the console app and the services behind it."""

    client: TestClient
    services: Services
    app: web.Application

    async def csrf_of(self, path: str) -> str:
        """The CSRF token printed in the page at `path`."""
        response = await self.client.get(path, headers={"Accept": "text/html"})
        match = _CSRF.search(await response.text())
        assert match, f"no CSRF token on {path}"
        return match[1]

    async def sign_in(self, name: str = OPERATOR, password: str = PASSWORD) -> str:
        """Sign in through the form; returns the session's CSRF token."""
        login_token = await self.csrf_of("/console/login")
        response = await self.client.post(
            "/console/login",
            data={"name": name, "password": password, "csrf_token": login_token},
            allow_redirects=False,
        )
        assert response.status == 303, await response.text()
        return await self.csrf_of("/console/")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for every browser test (each signs in in its own context).

    Tests that use it run in the session's loop: `pytestmark = pytest.mark.asyncio(loop_scope="session")`.
    """
    from .browser import CHROMIUM, LAUNCH_ARGS  # asserts that Debian's chromium is installed

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    """The whole HTTP app (console, API, health) on SQLite with a fake clock; nothing started."""
    async with _console_on(f"sqlite+aiosqlite:///{tmp_path / 'console.db'}") as made:
        yield made


@pytest_asyncio.fixture
async def console_on_both(database_url: str) -> AsyncIterator[Console]:
    """The same app once on SQLite and once on PostgreSQL."""
    async with _console_on(database_url) as made:
        yield made


@asynccontextmanager
async def _console_on(url: str) -> AsyncIterator[Console]:
    await create_schema(url)
    services = build_services(Settings(database_url=url), clock=FakeClock())
    await add_accounts(services)
    app = make_app(services)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Console(client, services, app)
    finally:
        await client.close()
        await services.close()
