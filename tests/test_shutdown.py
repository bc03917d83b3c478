"""SIGTERM: stop taking messages, finish what is in flight, flush heartbeats, exit 0 within a bound."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import aiomqtt
import asyncpg
import pytest
from aiohttp import web
from sqlalchemy import text
from twilio.request_validator import RequestValidator

from alert_gateway.clock import FakeClock
from alert_gateway.commands.serve import HTTP_SHUTDOWN_SECONDS, shut_down
from alert_gateway.db.engine import SessionFactory, make_engine, make_sessions
from alert_gateway.db.migrate import upgrade
from alert_gateway.db.models import NotificationAttempt
from alert_gateway.gateway import FINAL_SECONDS, STOP_SECONDS, Gateway
from alert_gateway.services import build_services
from alert_gateway.web.app import make_app, make_runner
from tests.api import seed
from tests.brokers import free_port
from tests.conftest import MQTT_URL, create_schema
from tests.harness import WAIT_SECONDS, Changes, gateway_settings, hub, seed_hub
from tests.processes import gateway_process

SHUTDOWN_BOUND_SECONDS = STOP_SECONDS + HTTP_SHUTDOWN_SECONDS
AUTH_TOKEN = "shutdown-test-token"
SMS_SID = "SM" + "5" * 32


async def test_sigterm_flushes_batched_heartbeats_and_exits_cleanly(sqlite_url: str, topic_root: str) -> None:
    """Heartbeats held in memory reach the database on SIGTERM, and the process exits 0 in time."""
    await upgrade(sqlite_url)
    await seed_hub(sqlite_url)
    env = {
        "ALERT_GATEWAY_DATABASE_URL": sqlite_url,
        "ALERT_GATEWAY_MQTT_URL": MQTT_URL,
        "ALERT_GATEWAY_MQTT_TOPIC_ROOT": topic_root,
        "ALERT_GATEWAY_MQTT_CLIENT_ID": f"agtest-term-{uuid.uuid4().hex[:8]}",
        "ALERT_GATEWAY_HTTP_PORT": str(free_port()),
        "ALERT_GATEWAY_HEARTBEAT_FLUSH_SECONDS": "3600",  # only the shutdown flush can write them
    }
    now = datetime.now(UTC).isoformat()
    async with gateway_process(env) as proc, aiomqtt.Client("127.0.0.1", 1883) as dev:
        await dev.subscribe(f"{topic_root}/hub-1/feedback", qos=1)
        beat = json.dumps({"ts": now, "battery": 64}).encode()
        for _ in range(5):
            await dev.publish(f"{topic_root}/hub-1/heartbeat", beat, qos=1)
        alarm = json.dumps({"id": "t-1", "type": "test", "ts": now}).encode()
        await dev.publish(f"{topic_root}/hub-1/alarm", alarm, qos=1)  # after the beats on one connection
        async with asyncio.timeout(15):
            async for _message in dev.messages:
                break  # `received`: the heartbeats before it are in the gateway's memory
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(SHUTDOWN_BOUND_SECONDS):
            assert await proc.wait() == 0
    device = await hub(sqlite_url)
    assert device is not None and device.battery == 64 and device.last_seen_at is not None


async def test_a_task_deaf_to_the_stop_is_cut_at_the_bound_and_last_seen_times_still_land(
        sqlite_url: str, topic_root: str, caplog: pytest.LogCaptureFixture) -> None:
    """A background task that ignores the stop holds it only until the stop's bound: it is
    cancelled and named in the log, and the sightings held in memory are still written."""
    await create_schema(sqlite_url)
    await seed_hub(sqlite_url)
    settings = gateway_settings(sqlite_url, topic_root, heartbeat_flush_seconds=3600)
    services = build_services(settings, clock=FakeClock())
    bound = FINAL_SECONDS + 2.0  # the others stop in milliseconds
    gateway = Gateway(services, stop_seconds=bound)
    running = asyncio.Event()

    async def deaf(_stop: asyncio.Event) -> None:
        running.set()
        await asyncio.Event().wait()  # never looks at the stop

    gateway.task_factories.append(("deaf", deaf))
    await gateway.start()
    try:
        await running.wait()
        services.ingest.heartbeats.note("hub-1", services.clock.now(), battery=55)
        with caplog.at_level(logging.WARNING, logger="alert_gateway.gateway"):
            async with asyncio.timeout(bound + 2):  # the bound, and a scheduling margin
                await gateway.stop()
    finally:
        await services.close()
    cut = [(getattr(r, "task", None), getattr(r, "awaiting", "")) for r in caplog.records
           if r.msg == "task did not stop in time, cancelled"]
    assert [task for task, _ in cut] == ["deaf"], caplog.text
    # where it hung: the supervisor, the deaf coroutine's line, the event it waits on
    chain = r"gateway\.py:\d+ _supervise → test_shutdown\.py:\d+ deaf → locks\.py:\d+ wait"
    assert re.fullmatch(chain, cut[0][1]), cut
    device = await hub(sqlite_url)
    assert device is not None and device.battery == 55 and device.last_seen_at is not None


async def test_a_callback_in_flight_when_the_gateway_stops_is_answered_and_stored(
        pg_url: str, topic_root: str, clock: FakeClock) -> None:
    """A status callback waits on a row lock while the gateway stops: the HTTP server stops
    taking requests, yet that callback is answered and its status stored once the lock goes, the
    stop ends with it, and the stopped gateway holds no database connection (the database was
    closed after the HTTP server: a handler's write after that close opens a connection that
    nothing closes)."""
    await create_schema(pg_url)
    port = free_port()
    settings = gateway_settings(pg_url, topic_root, twilio_auth_token=AUTH_TOKEN,
                                public_url=f"http://127.0.0.1:{port}", http_port=port)
    services = build_services(settings, clock=clock)
    attempt_id = await _sms_in_flight(services.sessions, clock)
    gateway = Gateway(services)
    runner = make_runner(make_app(services, gateway), handle_signals=False,
                         shutdown_timeout=HTTP_SHUTDOWN_SECONDS)  # as `serve` makes it
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await gateway.start()
    locker = make_engine(pg_url)
    changes = Changes()  # re-checks each condition until it holds (bounded)
    stopping: asyncio.Task[None] | None = None

    async def not_listening() -> bool:
        return not runner.sites

    try:
        async with locker.connect() as lock, aiohttp.ClientSession() as http:
            await lock.execute(text("SELECT id FROM notificationattempt WHERE id = :id FOR UPDATE"),
                               {"id": attempt_id})
            callback = asyncio.create_task(_delivered(http, settings.public_url, attempt_id))
            await changes.until(lambda: _a_connection_waits_on_a_lock(pg_url))
            stopping = asyncio.create_task(shut_down(gateway, runner))
            await changes.until(not_listening)
            assert not callback.done() and not stopping.done()
            await lock.rollback()
            assert await callback == 204
            async with asyncio.timeout(WAIT_SECONDS):  # the handler ended: no timeout waited out
                await stopping
    finally:
        await (stopping or shut_down(gateway, runner))
        await locker.dispose()
    await changes.until(lambda: _no_other_connection(pg_url))
    engine = make_engine(pg_url)
    async with make_sessions(engine)() as s:
        row = await s.get(NotificationAttempt, attempt_id)
    await engine.dispose()
    assert row is not None and (row.status, row.provider_sid) == ("delivered", SMS_SID)


async def _a_connection_waits_on_a_lock(url: str) -> bool:
    return await _other_connections(url, "AND wait_event_type = 'Lock'") > 0


async def _no_other_connection(url: str) -> bool:
    return await _other_connections(url) == 0


async def _other_connections(url: str, condition: str = "") -> int:
    """Connections to this database but ours (a fresh view of pg_stat_activity each time)."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            f"AND pid <> pg_backend_pid() {condition}"))
    finally:
        await conn.close()


async def _sms_in_flight(sessions: SessionFactory, clock: FakeClock) -> int:
    """An SMS about an open alert (with no escalation: nothing else to do) whose request is out,
    its sid not known yet: a callback that beats the API answer is written in a transaction, on
    the callbacks' own connection."""
    await seed.resident(sessions, clock)
    alert_id = await seed.alert(sessions, clock)
    async with sessions() as s:
        row = NotificationAttempt(alert_id=alert_id, target="contact", to_number="+819012345678",
                                  channel="sms", status="sending", created_at=clock.now(),
                                  not_before=clock.now(),
                                  deadline_at=clock.now() + timedelta(hours=1))  # its lease
        s.add(row)
        await s.commit()
        assert row.id is not None
        return row.id


async def _delivered(http: aiohttp.ClientSession, public_url: str, attempt_id: int) -> int:
    """Twilio's "delivered" callback for the SMS, signed; returns the answer's status."""
    url = f"{public_url}/twilio/sms/status?attempt={attempt_id}"
    form = {"MessageSid": SMS_SID, "MessageStatus": "delivered", "AccountSid": "AC" + "0" * 32}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    async with http.post(url, data=form, headers={"X-Twilio-Signature": signature}) as response:
        return response.status
