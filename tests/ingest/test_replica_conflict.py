"""An alarm is acknowledged to the broker only once its row, its duplicate's or its rejection is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from sqlmodel import col, select

from alert_gateway.access import tokens
from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.models import Alert, Device, InboundMessage, RejectedMessage, Resident
from alert_gateway.gateway import Gateway
from alert_gateway.web.app import make_app
from tests.conftest import create_schema
from tests.harness import DeviceSide, device_client, gateway_settings, running_gateway

from . import refuse

POISON = "poison"  # the message id the database refuses, as a foreign key violation would


async def _seed(url: str, *statements: str) -> None:
    """Three residents with a pendant each, and the given DDL (triggers that refuse rows)."""
    await create_schema(url)
    engine = make_engine(url)
    async with make_sessions(engine)() as s:
        s.add_all([Resident(id=f"r{i}", name=f"resident {i}") for i in range(1, 4)])
        await s.flush()
        s.add_all([Device(id=f"d{i}", resident_id=f"r{i}") for i in range(1, 4)])
        await s.commit()
    await engine.dispose()
    await refuse.execute(url, list(statements))


@asynccontextmanager
async def _api(gateway: Gateway, clock: FakeClock) -> AsyncIterator[tuple[TestClient, dict[str, str]]]:
    """The gateway's HTTP API, with a live token, as the dispatch console's scripts use it."""
    async with gateway.services.sessions() as session:
        _, token = await tokens.create(session, name="tester", now=clock.now())
        await session.commit()
    async with TestClient(TestServer(make_app(gateway.services))) as client:
        yield client, {"Authorization": f"Bearer {token}"}


async def _feedback(dev: DeviceSide, count: int) -> dict[str, dict[str, Any]]:
    """The next `count` feedback messages, by the alarm id they refer to."""
    got = {}
    for _ in range(count):
        _, body = await dev.next_feedback()
        got[body["ref"]] = body
    return got


async def test_an_alarm_the_database_refuses_is_kept_as_rejected_and_reaches_the_console_as_p1(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """A foreign key violation on one alarm: not told `received`, kept as unstorable, a P1; the rest land."""
    await _seed(database_url, *refuse.refuse(database_url, "inboundmessage", f"NEW.message_id = '{POISON}'"))
    settings = gateway_settings(database_url, topic_root)
    async with (
        running_gateway(settings, clock=clock, schema=False) as (gateway, changes),
        device_client(topic_root, clock=clock) as dev,
        _api(gateway, clock) as (api, auth),
    ):
        await dev.watch_feedback()
        await dev.alarm("d1", "m1")
        await dev.alarm("d2", POISON)
        await dev.alarm("d3", "m3")
        told = await _feedback(dev, 2)
        assert sorted(told) == ["m1", "m3"], told  # the refused alarm is not reported as held

        async def console() -> list[dict[str, Any]] | None:
            resp = await api.get("/api/v1/alerts", headers=auth)
            items: list[dict[str, Any]] = (await resp.json())["items"]
            return items if len(items) == 3 else None

        alerts = {a["device_id"]: a for a in await changes.until(console)}
        assert (alerts["d2"]["type"], alerts["d2"]["severity"], alerts["d2"]["status"]) == (
            "unknown", "P1", "open")
        assert alerts["d1"]["type"] == alerts["d3"]["type"] == "sos"
        resp = await api.get("/api/v1/rejected-messages?reason=unstorable", headers=auth)
        [rejected] = (await resp.json())["items"]
        assert rejected["device_id"] == "d2" and POISON in rejected["payload_text"], rejected
        pg = "ForeignKeyViolationError SQLSTATE 23503 in WITH claimed_inboundmessage AS"
        expected = "IntegrityError" if database_url.startswith("sqlite") else pg
        assert expected in rejected["detail"], rejected["detail"]
        resp = await api.get(f"/api/v1/alerts/{alerts['d2']['id']}", headers=auth)
        timeline = " | ".join(e["message"] for e in (await resp.json())["timeline"])
        assert "unstorable alarm" in timeline, timeline
        async with gateway.services.sessions() as s:
            stored = (await s.exec(select(InboundMessage.message_id))).all()
        assert sorted(stored) == ["m1", "m3"]
        registry = gateway.services.metrics.registry
        assert registry.get_sample_value("alert_gateway_mqtt_rejected_total", {"reason": "unstorable"}) == 1


async def test_an_alarm_whose_rejection_also_fails_is_left_for_the_broker_to_deliver_again(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """Not stored and not kept: never acknowledged, so after a restart the broker brings it back."""
    await _seed(database_url,
                *refuse.refuse(database_url, "inboundmessage", f"NEW.message_id = '{POISON}'"),
                *refuse.refuse(database_url, "rejectedmessage", "NEW.device_id = 'd2'"))
    settings = gateway_settings(database_url, topic_root)
    async with (
        running_gateway(settings, clock=clock, schema=False) as (gateway, changes),
        device_client(topic_root, clock=clock) as dev,
    ):
        await dev.alarm("d2", POISON)
        await dev.alarm("d1", "m1")
        registry = gateway.services.metrics.registry

        async def given_up() -> bool:
            async with gateway.services.sessions() as s:
                stored = (await s.exec(select(Alert).where(Alert.source_message_id == "m1"))).first()
            return stored is not None and registry.get_sample_value(
                "alert_gateway_ingest_unacknowledged_total") == 1

        await changes.until(given_up)  # the next alarm landed meanwhile
    await refuse.allow(database_url, "rejectedmessage")
    async with running_gateway(settings, clock=clock, schema=False) as (gateway, changes):

        async def kept() -> list[RejectedMessage]:
            async with gateway.services.sessions() as s:
                return list((await s.exec(select(RejectedMessage))).all())

        [rejected] = await changes.until(kept)
        assert (rejected.device_id, rejected.reason) == ("d2", "unstorable")
        async with gateway.services.sessions() as s:
            p1 = (await s.exec(select(Alert).where(col(Alert.device_id) == "d2"))).one()
        assert (p1.type, p1.severity, p1.id) == ("unknown", "P1", rejected.alert_id)


async def test_a_key_another_replica_is_storing_is_waited_for_and_told_as_a_duplicate(
    pg_url: str, topic_root: str, clock: FakeClock
) -> None:
    """The claim waits for the other replica's transaction, then finds its row: one alert, both told."""
    await _seed(pg_url)
    replica = make_engine(pg_url)  # another gateway process: its own engine and transaction
    settings = gateway_settings(pg_url, topic_root)
    try:
        async with (
            running_gateway(settings, clock=clock, schema=False) as (gateway, changes),
            device_client(topic_root, clock=clock) as dev,
            make_sessions(replica)() as other,
        ):
            alert = Alert(resident_id="r2", device_id="d2", type="sos", severity="P1", status="open",
                          source_message_id="m2", opened_at=clock.now(), updated_at=clock.now())
            other.add(alert)
            await other.flush()
            other.add(InboundMessage(device_id="d2", channel="alarm", message_id="m2",
                                     received_at=clock.now(), alert_id=alert.id))
            await other.flush()  # the key is the replica's, not yet committed
            await dev.watch_feedback()
            await dev.alarm("d2", "m2")

            async def waiting() -> bool:  # our claim is blocked on the replica's row lock
                async with gateway.services.sessions() as s:
                    query = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                 " AND query LIKE '%INSERT INTO inboundmessage%'")  # alone, or in a WITH
                    return bool((await s.exec(query)).scalar_one())  # type: ignore[call-overload]

            await changes.until(waiting)
            await other.commit()
            await dev.alarm("d1", "m1")
            told = await _feedback(dev, 2)
            assert told["m2"]["alert_id"] == alert.id and told["m1"]["state"] == "received", told
            async with gateway.services.sessions() as s:
                d2_alerts = (await s.exec(select(Alert).where(col(Alert.device_id) == "d2"))).all()
            assert [a.id for a in d2_alerts] == [alert.id]
    finally:
        await replica.dispose()
