"""Schemathesis against /api/v1's own OpenAPI document: no 5xx, answers as documented, and what
the document allows is accepted (and what it forbids refused).

Schemathesis calls a live URL with `requests`, which blocks, so the app runs in a thread with its
own event loop (a seeded SQLite database, a valid bearer token) while the tests run in pytest's.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings

from alert_gateway.access import tokens
from alert_gateway.api.app import OPENAPI, make_api_app
from alert_gateway.clock import FakeClock
from alert_gateway.db import sealed
from alert_gateway.services import build_services
from alert_gateway.settings import Settings
from alert_gateway.web.app import make_app

from ..conftest import create_schema
from . import seed

EXAMPLES = 20  # per operation and mode: the whole run stays well under a minute
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class LiveApi:
    """Where the app listens and a token it accepts."""

    base_url: str
    token: str


async def _serve(db_url: str, ready: Future[LiveApi], stop: asyncio.Event) -> None:
    clock = FakeClock()
    await create_schema(db_url)
    services = build_services(Settings(database_url=db_url), clock=clock)
    runner = web.AppRunner(make_app(services))
    try:
        for resident_id in ("r-0001", "r-0002"):
            await seed.resident(services.sessions, clock, resident_id)
        alert_id = await seed.alert(services.sessions, clock)
        await seed.escalation_trace(services.sessions, clock, alert_id)
        await seed.rejected(services.sessions, clock, b'{"type": "sos"')
        async with services.sessions() as session:
            _, token = await tokens.create(session, name="schemathesis", now=clock.now())
            await session.commit()
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        ready.set_result(LiveApi(f"http://127.0.0.1:{port}", token))
        await stop.wait()
    except BaseException as exc:
        if not ready.done():
            ready.set_exception(exc)
        raise
    finally:
        await runner.cleanup()
        await services.close()


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """The whole app on a seeded SQLite database, served from a thread."""
    # set up before the first test's autouse `data_key`: the seed stores sealed fields
    sealed.use_keys([os.environ["ALERT_GATEWAY_DATA_KEY"]])
    db_url = f"sqlite+aiosqlite:///{Path(tmp_path_factory.mktemp('schemathesis')) / 'api.db'}"
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready: Future[LiveApi] = Future()
    thread = threading.Thread(
        target=lambda: loop.run_until_complete(_serve(db_url, ready, stop)), daemon=True
    )
    thread.start()
    try:
        yield ready.result(timeout=START_TIMEOUT)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=START_TIMEOUT)
        loop.close()


# The document the app serves, built by the API app itself (no database needed to build it).
# schemathesis.pytest.from_fixture would fetch it from the live app, but it breaks on pytest 9.
schema = schemathesis.openapi.from_dict(make_api_app()[OPENAPI])


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_answers_as_its_document_says(case: schemathesis.Case, live_api: LiveApi) -> None:
    """Every operation with generated valid and invalid input: no 5xx, documented statuses and
    schemas, valid input accepted and invalid input refused."""
    if isinstance(case.query, dict):
        # requests drops a query value that is None or [], so such an invalid part would never
        # reach the server and an answer to what was really sent would count as a failure.
        case.query = {name: "" if value is None or value == [] else value
                      for name, value in case.query.items()}
    case.call_and_validate(base_url=live_api.base_url,
                           headers={"Authorization": f"Bearer {live_api.token}"})
