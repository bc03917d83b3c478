"""One app (console and API) on SQLite and on PostgreSQL, with accounts, a token and a resident."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest_asyncio

from alert_gateway.access import tokens
from alert_gateway.clock import FakeClock
from alert_gateway.services import build_services
from alert_gateway.settings import Settings
from alert_gateway.web.app import make_app

from ..conftest import create_schema
from ..console.conftest import Console, add_accounts
from ..console.factories import add_resident


@dataclass
class Centre(Console):
    """The console client plus an API token, on a database with resident r-001."""

    token: str = ""

    @property
    def api_auth(self) -> dict[str, str]:
        """Headers that pass the API token check."""
        return {"Authorization": f"Bearer {self.token}"}


@pytest_asyncio.fixture
async def centre(database_url: str, clock: FakeClock) -> AsyncIterator[Centre]:
    """The whole HTTP app on both databases with a fake clock; background tasks not started."""
    from aiohttp.test_utils import TestClient, TestServer

    await create_schema(database_url)
    services = build_services(Settings(database_url=database_url), clock=clock)
    await add_accounts(services)
    await add_resident(services)
    async with services.sessions() as session:
        _, token = await tokens.create(session, name="city-dashboard", now=clock.now())
        await session.commit()
    app = make_app(services)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Centre(client, services, app, token)
    finally:
        await client.close()
        await services.close()
