"""A gateway process killed with SIGKILL mid-escalation resumes it: every step once, none repeated,
and nothing about an alert closed after the restart.

The gateway runs as a real process on the real clock, with short policy waits; the fake Twilio runs
here, so the test sees every API request the gateway made, across both lives.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from alert_gateway.access import tokens
from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.migrate import upgrade
from alert_gateway.db.models import Alert, AlertEvent, NotificationAttempt
from alert_gateway.twilio.fake_server import fake_of, make_fake_twilio_app
from alert_gateway.twilio.fake_state import FakeTwilio
from tests.brokers import free_port
from tests.conftest import MQTT_URL
from tests.harness import WAIT_SECONDS, device_client
from tests.processes import gateway_process

from .env import ACCOUNT_SID, AUTH_TOKEN, DAUGHTER, GATEWAY_NUMBER, SON, seed

FIRST_DAUGHTER, SECOND_DAUGHTER = "+81902220001", "+81902220002"  # seed(n=2)

TWO_QUICK_STEPS = """
[[policy]]
name = "default"
redial = false
on_exhausted = "console"
  [[policy.step]]
  targets = ["family:1"]
  channels = ["sms"]
  wait_seconds = 2
  [[policy.step]]
  targets = ["family:2"]
  channels = ["sms"]
  wait_seconds = 1
"""
# The kill must fall between the steps, and the gateway's clock is real: the first wait is the
# window the test has to see her SMS delivered and kill the process, so it is kept wide enough
# for a loaded machine (2 s was not). It costs nothing: starting the second process under load
# takes longer (6-8 s measured at load 7), so step 2 is due when it comes up.
KILL_WINDOW_SECONDS = 6
SLOW_FIRST_STEP = TWO_QUICK_STEPS.replace("wait_seconds = 2", f"wait_seconds = {KILL_WINDOW_SECONDS}")
ONE_CALL = """
[[policy]]
name = "default"
redial = false
on_exhausted = "console"
  [[policy.step]]
  targets = ["family:1"]
  channels = ["voice"]
  wait_seconds = 60
"""


@asynccontextmanager
async def _fake_and_env(database_url: str, topic_root: str, tmp_path: Path, *,
                        policies: str = TWO_QUICK_STEPS, twilio_timeout: str = "1",
                        ) -> AsyncIterator[tuple[FakeTwilio, dict[str, str], str]]:
    """The fake Twilio on a free loopback port, and the gateway process environment for it;
    its SENDING lease is three times `twilio_timeout` seconds."""
    http_port = free_port()
    public = f"http://127.0.0.1:{http_port}"
    app = make_fake_twilio_app(auth_token=AUTH_TOKEN, account_sid=ACCOUNT_SID, webhook_base=public)
    runner = web.AppRunner(app)
    await runner.setup()
    fake_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", fake_port).start()
    policies_file = tmp_path / "policies.toml"
    policies_file.write_text(policies, encoding="utf-8")
    fake_url = f"http://127.0.0.1:{fake_port}"
    env = {
        "ALERT_GATEWAY_DATABASE_URL": database_url,
        "ALERT_GATEWAY_MQTT_URL": MQTT_URL,
        "ALERT_GATEWAY_MQTT_TOPIC_ROOT": topic_root,
        "ALERT_GATEWAY_MQTT_CLIENT_ID": f"agtest-esc-kill-{uuid.uuid4().hex[:8]}",
        "ALERT_GATEWAY_HTTP_PORT": str(http_port),
        "ALERT_GATEWAY_PUBLIC_URL": public,
        "ALERT_GATEWAY_TWILIO_API_BASE": fake_url,
        "ALERT_GATEWAY_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "ALERT_GATEWAY_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "ALERT_GATEWAY_TWILIO_FROM_NUMBER": GATEWAY_NUMBER,
        "ALERT_GATEWAY_TWILIO_TIMEOUT_SECONDS": twilio_timeout,
        "ALERT_GATEWAY_POLICIES_FILE": str(policies_file),
    }
    try:
        yield fake_of(app), env, fake_url
    finally:
        await runner.cleanup()


async def _until_counted(url: str, query: Any) -> None:
    """Wait (bounded) until `query` (a SELECT count) counts a row another process writes."""
    engine = make_engine(url)
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                if await _count(engine, query):
                    return
                await asyncio.sleep(0.02)  # written by another process: nothing to await on
    finally:
        await engine.dispose()


async def _count(engine: AsyncEngine, query: Any) -> int:
    async with make_sessions(engine)() as s:
        return int((await s.exec(query)).one())


async def _escalation_ended(url: str) -> None:
    """Until the alert's escalation has ended: the `exhausted` timeline entry."""
    await _until_counted(url, select(func.count()).select_from(AlertEvent)
                         .where(AlertEvent.kind == "exhausted"))


def _texts_to(fake: FakeTwilio, number: str) -> int:
    return len([r for r in fake.api_requests("Messages") if r.params.get("To") == [number]])


def _delivered_and_recorded(fake: FakeTwilio, number: str) -> bool:
    """The gateway answered the `delivered` callback: the attempt is final in its database."""
    return any(r.params.get("To") == [number] and r.params.get("MessageStatus") == ["delivered"]
               and r.status == 204 for r in fake.callbacks("/twilio/sms/status"))


async def test_sigkill_between_steps_resumes_without_repeating(
    database_url: str, topic_root: str, tmp_path: Path
) -> None:
    """Killed after the daughter's SMS; the restarted process texts the son once and never her again."""
    await upgrade(database_url)
    await seed(database_url)
    async with _fake_and_env(database_url, topic_root, tmp_path,
                             policies=SLOW_FIRST_STEP) as (fake, env, _):
        async with gateway_process(env) as first, device_client(topic_root) as dev:
            await dev.alarm("pendant-1", "m-1", "sos")
            await fake.wait_for(lambda f: _delivered_and_recorded(f, DAUGHTER), timeout=WAIT_SECONDS)
            first.send_signal(signal.SIGKILL)
            killed_at = time.perf_counter()
            await first.wait()
        [her_sms] = [r for r in fake.api_requests("Messages") if r.params.get("To") == [DAUGHTER]]
        assert _texts_to(fake, SON) == 0, (
            f"the kill came {killed_at - her_sms.at:.2f} s after her SMS request, past the "
            f"{KILL_WINDOW_SECONDS} s window: step 2 had started")
        async with gateway_process(env):
            await fake.wait_for(lambda f: _texts_to(f, SON) >= 1, timeout=WAIT_SECONDS)
            await _escalation_ended(database_url)
        assert (_texts_to(fake, DAUGHTER), _texts_to(fake, SON)) == (1, 1)


async def test_sigkill_during_a_send_repeats_only_that_attempt(
    pg_url: str, topic_root: str, tmp_path: Path
) -> None:
    """Killed while Twilio holds the daughter's SMS request: after the 3 s lease it is sent again, once."""
    await upgrade(pg_url)
    await seed(pg_url)
    async with _fake_and_env(pg_url, topic_root, tmp_path) as (fake, env, fake_url):
        async with aiohttp.ClientSession() as http:
            # Refused in the end: had it gone through, its delivery callbacks might reach the
            # restarted gateway (then rightly nothing is repeated) or not, depending on timing.
            # Held until the fake stops: the kill surely comes while it is in flight.
            async with http.post(fake_url + "/_fake/fail",
                                 json={"hold": True, "status": 503, "count": 1}) as resp:
                assert resp.status == 200
        async with gateway_process(env) as first, device_client(topic_root) as dev:
            await dev.alarm("pendant-1", "m-1", "sos")
            await fake.wait_for(lambda f: _texts_to(f, DAUGHTER) == 1, timeout=WAIT_SECONDS)
            first.send_signal(signal.SIGKILL)  # the request is in flight: the row is SENDING
            await first.wait()
        async with gateway_process(env):
            await fake.wait_for(lambda f: _texts_to(f, DAUGHTER) == 2 and _texts_to(f, SON) == 1,
                                timeout=WAIT_SECONDS)
            await _escalation_ended(pg_url)
        # Two requests for her SMS (the held one and the one after the lease), nothing else repeated.
        assert (_texts_to(fake, DAUGHTER), _texts_to(fake, SON)) == (2, 1)


def _calls_to(fake: FakeTwilio, number: str) -> int:
    return len([r for r in fake.creates("Calls") if r.params.get("To") == [number]])


async def _resolve_through_the_api(url: str, env: dict[str, str], resident_id: str) -> int:
    """The operator resolves the resident's alert through the REST API; returns the alert id."""
    engine = make_engine(url)
    try:
        async with make_sessions(engine)() as s:
            [alert_id] = (await s.exec(select(Alert.id).where(Alert.resident_id == resident_id))).all()
            _, token = await tokens.create(s, name="operator", now=datetime.now(UTC))
            await s.commit()
    finally:
        await engine.dispose()
    assert alert_id is not None
    api = env["ALERT_GATEWAY_PUBLIC_URL"] + f"/api/v1/alerts/{alert_id}/resolve"
    async with aiohttp.ClientSession() as http, http.post(
            api, json={"outcome": "accidental"}, headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200, await resp.text()
    return alert_id


async def _attempts_of(url: str, alert_id: int) -> list[NotificationAttempt]:
    engine = make_engine(url)
    try:
        async with make_sessions(engine)() as s:
            return list((await s.exec(select(NotificationAttempt)
                                      .where(NotificationAttempt.alert_id == alert_id))).all())
    finally:
        await engine.dispose()


async def _first_send_claimed(url: str) -> None:
    """Until intake has committed the alarm with its first send claimed."""
    await _until_counted(url, select(func.count()).select_from(NotificationAttempt)
                         .where(NotificationAttempt.status == "sending"))


async def test_sigkill_with_a_call_in_flight_then_resolve_never_calls_again(
    database_url: str, topic_root: str, tmp_path: Path
) -> None:
    """Killed while Twilio holds two alerts' calls; one is resolved after the restart: when the
    12 s leases run out, only the other alert's call is placed again."""
    await upgrade(database_url)
    await seed(database_url, n=2)
    async with _fake_and_env(database_url, topic_root, tmp_path, policies=ONE_CALL,
                             twilio_timeout="4") as (fake, env, fake_url):
        async with aiohttp.ClientSession() as http:
            # held until the fake stops, then refused: neither call is ever placed
            async with http.post(fake_url + "/_fake/fail",
                                 json={"hold": True, "status": 503, "count": 2}) as resp:
                assert resp.status == 200
        async with gateway_process(env) as first, device_client(topic_root) as dev:
            await dev.alarm("pendant-1", "m-1", "sos")
            await fake.wait_for(lambda f: _calls_to(f, FIRST_DAUGHTER) == 1, timeout=WAIT_SECONDS)
            await dev.alarm("pendant-2", "m-2", "sos")  # claimed later: its lease ends later
            await fake.wait_for(lambda f: _calls_to(f, SECOND_DAUGHTER) == 1, timeout=WAIT_SECONDS)
            first.send_signal(signal.SIGKILL)  # both rows are SENDING with a lease
            await first.wait()
        async with gateway_process(env):
            alert_id = await _resolve_through_the_api(database_url, env, "r-1")
            # The control: lease recovery re-sends the open alert's call, so it has run past the
            # resolved alert's (earlier) lease too.
            await fake.wait_for(lambda f: _calls_to(f, SECOND_DAUGHTER) == 2,
                                timeout=WAIT_SECONDS + 12)
        assert _calls_to(fake, FIRST_DAUGHTER) == 1, [r.params for r in fake.creates("Calls")]
        [call] = [a for a in await _attempts_of(database_url, alert_id) if a.channel == "voice"]
        assert call.status == "canceled" and call.provider_sid is None, call


@asynccontextmanager
async def _unanswering_twilio() -> AsyncIterator[str]:
    """A base URL that accepts connections and never answers: a request sent there never lands."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_sigkill_after_the_alarm_is_stored_sends_its_claimed_first_sms_once(
    database_url: str, topic_root: str, tmp_path: Path
) -> None:
    """Killed right after the alarm and its claimed SMS are committed, before Twilio has it: the
    restarted process sends it by lease recovery, once, then the next step."""
    await upgrade(database_url)
    await seed(database_url)
    async with _fake_and_env(database_url, topic_root, tmp_path) as (fake, env, _), \
            _unanswering_twilio() as nowhere:
        env["ALERT_GATEWAY_TWILIO_TIMEOUT_SECONDS"] = "2"  # a lease of 6 s, longer than the kill takes
        async with gateway_process({**env, "ALERT_GATEWAY_TWILIO_API_BASE": nowhere}) as first, \
                device_client(topic_root) as dev:
            await dev.alarm("pendant-1", "m-1", "sos")
            await _first_send_claimed(database_url)
            first.send_signal(signal.SIGKILL)
            await first.wait()
        assert fake.api_requests() == []
        async with gateway_process(env):
            # the son's step is due before the dead process's lease runs out: either may go first
            await fake.wait_for(lambda f: _texts_to(f, DAUGHTER) >= 1 and _texts_to(f, SON) >= 1,
                                timeout=WAIT_SECONDS)
            await _escalation_ended(database_url)
        assert (_texts_to(fake, DAUGHTER), _texts_to(fake, SON)) == (1, 1)
