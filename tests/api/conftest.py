"""An API client on make_app(services) with a fresh schema, a fake clock and one live token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from alert_gateway.access import tokens
from alert_gateway.clock import FakeClock
from alert_gateway.services import Services, build_services
from alert_gateway.settings import Settings
from alert_gateway.web.app import make_app

from ..conftest import create_schema


@dataclass
class Api:
    """A running API: its client, services, clock and a valid token."""

    client: TestClient
    app: web.Application
    services: Services
    clock: FakeClock
    token: str

    @property
    def auth(self) -> dict[str, str]:
        """Headers that pass the token check."""
        return {"Authorization": f"Bearer {self.token}"}


async def start(url: str, clock: FakeClock) -> AsyncIterator[Api]:
    """Schema, services, one token named 'tester', a test server; all torn down after."""
    await create_schema(url)
    services = build_services(Settings(database_url=url), clock=clock)
    async with services.sessions() as session:
        _, token = await tokens.create(session, name="tester", now=clock.now())
        await session.commit()
    try:
        app = make_app(services)
        async with TestClient(TestServer(app)) as client:
            yield Api(client, app, services, clock, token)
    finally:
        await services.close()


@pytest_asyncio.fixture
async def api(database_url: str, clock: FakeClock) -> AsyncIterator[Api]:
    """The API on SQLite and on PostgreSQL."""
    async for running in start(database_url, clock):
        yield running


@pytest_asyncio.fixture
async def api_sqlite(sqlite_url: str, clock: FakeClock) -> AsyncIterator[Api]:
    """The API on SQLite only, for HTTP behaviour that does not depend on the database."""
    async for running in start(sqlite_url, clock):
        yield running
