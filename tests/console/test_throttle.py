"""Sign-in throttling on both databases: slow guessing down, never lock an operator out."""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from alert_gateway.clock import FakeClock
from alert_gateway.services import build_services
from alert_gateway.settings import Settings
from alert_gateway.web.app import make_app

from ..conftest import create_schema
from .conftest import OPERATOR, PASSWORD, SUPERVISOR, Console, add_accounts

ATTACKER = "198.51.100.7"
OPERATOR_DESK = "203.0.113.20"
WRONG = "not-the-password"


@pytest_asyncio.fixture
async def proxied(database_url: str) -> AsyncIterator[Console]:
    """The app behind a trusted proxy (the test client's 127.0.0.1), on SQLite and PostgreSQL."""
    await create_schema(database_url)
    settings = Settings(database_url=database_url, trusted_proxies="127.0.0.1")  # type: ignore[arg-type]
    services = build_services(settings, clock=FakeClock())
    await add_accounts(services)
    app = make_app(services)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Console(client, services, app)
    finally:
        await client.close()
        await services.close()


async def attempt(console: Console, token: str, *, name: str, password: str,
                  address: str) -> tuple[int, int | None]:
    """One sign-in from `address` (through the proxy): the status and any Retry-After."""
    response = await console.client.post(
        "/console/login", data={"name": name, "password": password, "csrf_token": token},
        headers={"X-Forwarded-For": address}, allow_redirects=False,
    )
    retry = response.headers.get("Retry-After")
    return response.status, int(retry) if retry is not None else None


def metric(console: Console, name: str, **labels: str) -> float:
    """A sample of the app's registry (0 when absent)."""
    value = console.services.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


async def test_failures_from_many_addresses_do_not_lock_the_operator_out(proxied: Console) -> None:
    """An attacker's guesses at an operator's name from many addresses delay them by seconds only."""
    clock = proxied.services.clock
    assert isinstance(clock, FakeClock)
    token = await proxied.csrf_of("/console/login")
    statuses: Counter[int] = Counter()
    for i in range(24):
        status, retry = await attempt(proxied, token, name=OPERATOR, password=WRONG,
                                      address=f"192.0.2.{i + 1}")
        statuses[status] += 1
        if retry is not None:
            await clock.advance(seconds=retry)  # the attacker waits as told and goes on
    assert statuses[401] >= 8, statuses  # the guesses did happen
    status, retry = await attempt(proxied, token, name=OPERATOR, password=PASSWORD,
                                  address=OPERATOR_DESK)
    if status == 429:
        assert retry is not None and retry <= 8, f"the operator was told to wait {retry} s"
        await clock.advance(seconds=retry)
        status, retry = await attempt(proxied, token, name=OPERATOR, password=PASSWORD,
                                      address=OPERATOR_DESK)
    assert status == 303, (status, retry)


async def test_another_operator_at_the_attackers_address_waits_at_most_a_minute(
        proxied: Console) -> None:
    """Many failures from one address slow a colleague there by a minute at most, never 429 for good."""
    clock = proxied.services.clock
    assert isinstance(clock, FakeClock)
    token = await proxied.csrf_of("/console/login")
    for i in range(24):
        _, retry = await attempt(proxied, token, name=f"guess{i}", password=WRONG, address=ATTACKER)
        if retry is not None:
            await clock.advance(seconds=retry)
    status, retry = await attempt(proxied, token, name=SUPERVISOR, password=PASSWORD,
                                  address=ATTACKER)
    if status == 429:
        assert retry is not None and retry <= 60, f"told to wait {retry} s"
        await clock.advance(seconds=retry)
        status, _ = await attempt(proxied, token, name=SUPERVISOR, password=PASSWORD,
                                  address=ATTACKER)
    assert status == 303


async def test_concurrent_guesses_are_refused_before_the_password_check(proxied: Console) -> None:
    """60 wrong guesses sent at once: only the first three reach the password hash."""
    token = await proxied.csrf_of("/console/login")
    results = await asyncio.gather(*(
        attempt(proxied, token, name=OPERATOR, password=WRONG, address=ATTACKER)
        for _ in range(60)))
    statuses = Counter(status for status, _ in results)
    assert statuses == {401: 3, 429: 57}, statuses
    assert metric(proxied, "alert_gateway_console_sign_ins_total", result="failed") == 3
    assert metric(proxied, "alert_gateway_console_sign_ins_throttled_total", limit="pair") == 57


async def test_supervisor_sees_and_clears_a_throttle(proxied: Console) -> None:
    """The operators page lists the throttled address; clearing it lets the operator in at once."""
    token = await proxied.csrf_of("/console/login")
    for _ in range(4):
        status, retry = await attempt(proxied, token, name=OPERATOR, password=WRONG,
                                      address=OPERATOR_DESK)
    assert status == 429 and retry is not None
    csrf = await proxied.sign_in(SUPERVISOR)
    page = await (await proxied.client.get("/console/operators")).text()
    row = re.search(r'<tr class="throttle">(.*?)</tr>', page, re.S)
    assert row and OPERATOR in row[1] and OPERATOR_DESK in row[1], page
    key = re.search(r'name="key" value="([^"]+)"', row[1])
    assert key, row[1]
    response = await proxied.client.post("/console/operators/throttles/clear",
                                         data={"csrf_token": csrf, "key": key[1]},
                                         allow_redirects=False)
    assert response.status == 303
    page = await (await proxied.client.get("/console/operators")).text()
    assert f"{OPERATOR}|{OPERATOR_DESK}" not in page
    token = await proxied.csrf_of("/console/login")  # signing in used up the form's token
    status, _ = await attempt(proxied, token, name=OPERATOR, password=PASSWORD,
                              address=OPERATOR_DESK)
    assert status == 303


async def test_forwarded_address_from_an_untrusted_peer_is_ignored(
        console: Console, caplog: pytest.LogCaptureFixture) -> None:
    """Without trusted proxies a client's X-Forwarded-For neither dodges the throttle nor shows."""
    token = await console.csrf_of("/console/login")
    with caplog.at_level(logging.INFO, logger="alert_gateway.console.auth"):
        statuses = [(await attempt(console, token, name=OPERATOR, password=WRONG,
                                   address=f"192.0.2.{i}"))[0] for i in range(4)]
    assert statuses == [401, 401, 401, 429]  # one pair counter: the header changed nothing
    remotes = {getattr(record, "remote", None) for record in caplog.records}
    assert remotes == {"127.0.0.1"}, remotes


async def test_forwarded_address_from_a_trusted_proxy_is_the_client(
        proxied: Console, caplog: pytest.LogCaptureFixture) -> None:
    """Behind the trusted proxy each client has its own counter and the log names the client."""
    token = await proxied.csrf_of("/console/login")
    with caplog.at_level(logging.INFO, logger="alert_gateway.console.auth"):
        statuses = [(await attempt(proxied, token, name=OPERATOR, password=WRONG,
                                   address=f"192.0.2.{i}"))[0] for i in range(4)]
    assert statuses == [401, 401, 401, 401]
    remotes = {getattr(record, "remote", None) for record in caplog.records}
    assert remotes == {f"192.0.2.{i}" for i in range(4)}, remotes
