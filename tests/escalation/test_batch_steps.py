"""A batch of escalation steps is planned with a fixed number of statements, the per-resident
rate cap still counts every alert (including those planned earlier in the same batch), and a
storm's intake claims each person's first channel only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import (
    Alert,
    AlertEvent,
    Contact,
    Device,
    Escalation,
    InboundMessage,
    NotificationAttempt,
    Resident,
)
from alert_gateway.escalation.engine import BATCH, EscalationEngine
from alert_gateway.escalation.intake import Intake
from alert_gateway.escalation.policy_file import load_policies
from alert_gateway.escalation.steps import Stepper
from alert_gateway.ingest.parse import Incoming, Rejection, parse_message
from alert_gateway.ingest.store import store_batch
from alert_gateway.services import Services, build_services
from alert_gateway.settings import Settings
from devices.contract import Topics
from tests.conftest import create_schema
from tests.statements import statements_sent

NOON = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)  # 12:00 in Japan: the technical policy texts by day


@asynccontextmanager
async def _engine(database_url: str) -> AsyncIterator[tuple[Services, EscalationEngine]]:
    await create_schema(database_url)
    services = build_services(Settings(database_url=database_url), clock=FakeClock(NOON))
    try:
        yield services, EscalationEngine(services.settings, services.clock, services.sessions,
                                         services.bus, services.metrics, load_policies())
    finally:
        await services.close()


async def _home(services: Services, resident: str, *, alerts: int, at: datetime = NOON) -> list[int]:
    """A resident with a daughter (added once), and that many new low-battery (P3) alerts due at `at`."""
    ids = []
    async with services.sessions() as s:
        if await s.get(Resident, resident) is None:
            s.add(Resident(id=resident, name=f"住民 {resident}"))
            await s.flush()
            s.add(Contact(resident_id=resident, name="娘", relation="family", phone=f"+8190{resident}",
                          phone_type="mobile"))
        for _ in range(alerts):
            alert = Alert(resident_id=resident, device_id=f"{resident}-pendant", type="low_battery",
                          severity="P3", opened_at=at, updated_at=at)
            s.add(alert)
            await s.flush()
            assert alert.id is not None
            s.add(Escalation(alert_id=alert.id, policy="", severity_rank=3, next_due_at=at,
                             started_at=at, updated_at=at))
            ids.append(alert.id)
        await s.commit()
    return ids


async def _statements_of_tick(services: Services, engine: EscalationEngine) -> int:
    with statements_sent(services.engine) as seen:
        await engine.tick(NOON)
    return len(seen)


async def test_planning_a_batch_of_steps_costs_the_same_statements_for_10_or_99(database_url: str) -> None:
    """The engine plans 10 or 99 residents' P3 alerts (rate-capped) with the same few statements.
    (99: a full batch of 100 leaves its next-due read to the tick after it, one statement less.)"""
    async with _engine(database_url) as (services, engine):
        counts = []
        for n, p in ((10, "x"), (BATCH - 1, "y")):
            for i in range(n):
                await _home(services, f"{p}{i:04d}", alerts=1)
            counts.append(await _statements_of_tick(services, engine))
        async with services.sessions() as s:
            texts = (await s.exec(select(NotificationAttempt))).all()
        assert len(texts) == 10 + BATCH - 1, "each daughter is texted once"
        assert counts[0] == counts[1] <= 15, counts


async def test_the_resident_cap_counts_earlier_alerts_and_those_planned_in_the_same_batch(
        database_url: str) -> None:
    """Cap 2 a day: a text an hour ago counts, so of three new alerts planned together one texts."""
    async with _engine(database_url) as (services, engine):
        earlier = await _home(services, "r1", alerts=1, at=NOON - timedelta(hours=1))
        await engine.tick(NOON - timedelta(hours=1))
        new = await _home(services, "r1", alerts=3)
        await engine.tick(NOON)
        async with services.sessions() as s:
            texted = {a.alert_id for a in (await s.exec(select(NotificationAttempt))).all()}
            capped = {e.alert_id for e in (await s.exec(
                select(AlertEvent).where(col(AlertEvent.message).contains("rate limit")))).all()}
        assert set(earlier) <= texted
        assert len(texted & set(new)) == 1, (texted, new)
        assert capped == set(new) - texted


async def test_a_storm_batch_claims_each_contacts_call_and_keeps_the_sms_beside_it_pending(
        database_url: str) -> None:
    """Stored while more alarms wait, a P1 claims the daughter's call only; her SMS is committed
    with it, PENDING for the outbox. Stored alone, both are claimed at once."""
    async with _engine(database_url) as (services, _):
        for resident in ("s1", "s2"):
            await _home(services, resident, alerts=0)
            async with services.sessions() as s:
                s.add(Device(id=f"{resident}-pendant", resident_id=resident))
                await s.commit()
        intake = Intake(services.settings, Stepper(services.settings, load_policies()),
                        None, None, lock_rows=False)  # type: ignore[arg-type]  # no hand-over here
        claimed = {}
        for resident, storm in (("s1", True), ("s2", False)):
            async with services.sessions() as s:
                result = await store_batch(s, [_sos(f"{resident}-pendant")], now=NOON, skew_limit=300,
                                           cancel_min_seconds=0, cancel_grace_seconds=300,
                                           intake=intake, storm=storm)
                await s.commit()
            claimed[resident] = sorted(a.channel for a in result.first_steps.claimed)
        async with services.sessions() as s:
            rows = (await s.exec(select(NotificationAttempt).order_by(col(NotificationAttempt.id)))).all()
        status = {(a.to_number[-2:], a.channel): a.status for a in rows}
        assert claimed == {"s1": ["voice"], "s2": ["sms", "voice"]}
        assert status == {("s1", "voice"): "sending", ("s1", "sms"): "pending",
                          ("s2", "voice"): "sending", ("s2", "sms"): "sending"}
        assert [a.channel for a in rows] == ["voice", "sms", "voice", "sms"], "ids in plan order"


async def test_one_alarms_intake_writes_its_rows_and_reads_back_none_of_them(database_url: str) -> None:
    """One SOS stored, planned and its sends claimed in 10 statements (4 on PostgreSQL, where
    its attempts, responders, answer links, timeline entries and escalation go in one, with the
    message's alert, and its claim comes with the read of its device): nothing
    the transaction wrote is read back (alert, escalation, attempts, responders), the escalation
    goes in once with its first step, the device comes with its active alert and people, and the
    cap counts come with the short codes (issue 11)."""
    async with _engine(database_url) as (services, _):
        await _home(services, "o1", alerts=0)
        async with services.sessions() as s:
            s.add(Device(id="o1-pendant", resident_id="o1"))
            await s.commit()
        intake = Intake(services.settings, Stepper(services.settings, load_policies()),
                        None, None, lock_rows=False)  # type: ignore[arg-type]  # no hand-over here
        with statements_sent(services.engine) as seen:
            async with services.sessions() as s:
                result = await store_batch(s, [_sos("o1-pendant")], now=NOON, skew_limit=300,
                                           cancel_min_seconds=0, cancel_grace_seconds=300,
                                           intake=intake)
                await s.commit()
        heads = [" ".join(q.split()[:3]) for q in seen]
        async with services.sessions() as s:
            escalation = (await s.exec(select(Escalation))).one()
            message = (await s.exec(select(InboundMessage))).one()
        assert message.alert_id == escalation.alert_id  # a repeat of it is told its alert
        assert sorted(a.channel for a in result.first_steps.claimed) == ["sms", "voice"]
        assert len(seen) == (10 if database_url.startswith("sqlite") else 4), "\n".join(heads)
        assert not [h for h in heads if h.startswith(("SELECT escalation", "UPDATE escalation",
                                                      "SELECT notificationattempt.id"))], heads
        assert escalation.policy != "", "the escalation was inserted with its first step planned"


def _sos(device: str) -> Incoming | Rejection:
    body = f'{{"id": "m-{device}", "type": "sos", "ts": "{NOON.isoformat()}", "qualifier": "new"}}'
    topics = Topics()
    return parse_message(f"{topics.root}/{device}/alarm", body.encode(), topics=topics,
                         max_bytes=4096, received_at=NOON)
