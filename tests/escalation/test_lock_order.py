"""Closing an alert and a group-commit batch of its callbacks take their rows in one order
(attempts by id, then the escalation, then the alert), so on PostgreSQL they never deadlock."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from alert_gateway.alerts import actions
from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import SessionFactory, make_engine, make_sessions
from alert_gateway.db.models import AckChannel, Alert, Escalation, NotificationAttempt
from alert_gateway.db.shared import SharedStatements
from alert_gateway.metrics import Metrics
from alert_gateway.outbox import forward, results
from alert_gateway.responses import callbacks
from alert_gateway.twilio.client import ProviderResult

from .env import DAUGHTER, seed
from .test_closing import attempt, open_alert

CALL_SID, SMS_SID = "CA" + "1" * 32, "SM" + "1" * 32


async def _blocked_on_a_lock(sessions: SessionFactory, pid: int) -> None:
    """Return once backend `pid` waits for a row lock (a condition, polled; bounded)."""
    async with sessions() as watcher:
        for _ in range(1000):
            waiting = (await watcher.exec(text(  # type: ignore[call-overload]
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                params={"pid": pid})).scalar()
            if waiting == "Lock":
                return
            await asyncio.sleep(0.01)
    raise AssertionError(f"backend {pid} never waited for a lock")


@pytest.mark.asyncio
async def test_an_acknowledgement_during_a_callback_batch_waits_and_both_commit(
    pg_url: str, clock: FakeClock
) -> None:
    """The batch has locked the alert's attempts (the call not reached, the SMS taken) and is
    about to poke the escalation and mark the alert notified when an operator acknowledges it:
    the acknowledgement waits for the batch instead of locking the escalation under it, and then
    both commit (before, one of them was a deadlock victim)."""
    await seed(pg_url)
    now = clock.now()
    alert_id = await open_alert(pg_url, now)
    engine = make_engine(pg_url)
    sessions = make_sessions(engine)
    try:
        async with sessions() as s:
            call = attempt(alert_id, now, to=DAUGHTER, channel="voice", status="in_progress",
                           sid=CALL_SID)
            sms = attempt(alert_id, now, to=DAUGHTER, channel="sms", status="sending")
            s.add_all([call, sms])
            await s.commit()
            assert call.id is not None and sms.id is not None
            call_id, sms_id = call.id, sms.id
        metrics, later = Metrics(), now + timedelta(seconds=30)
        between_rounds, go_on = asyncio.Event(), asyncio.Event()

        async def holds_the_batch_between_its_rounds(session: AsyncSession) -> None:
            await forward.lock(session, sms_id)  # the first round: every attempt locked
            between_rounds.set()
            await go_on.wait()

        async def batch() -> None:
            async with sessions() as s:
                await SharedStatements(s).run([
                    lambda s: callbacks.call_status(s, attempt_id=call_id, sid=CALL_SID,
                                                    status="completed", answered_by=None,
                                                    now=later, metrics=metrics),
                    lambda s: results.record(s, sms_id, ProviderResult(sid=SMS_SID, status="queued"),
                                             now=later, metrics=metrics),
                    holds_the_batch_between_its_rounds])
                await s.commit()

        async def acknowledge(pid: asyncio.Future[int]) -> None:
            async with sessions() as s:
                pid.set_result((await s.exec(text("SELECT pg_backend_pid()"))).scalar())  # type: ignore[call-overload]
                await actions.acknowledge(s, alert_id=alert_id, actor="operator:tanaka",
                                          channel=AckChannel.CONSOLE, now=later)
                await s.commit()

        batching = asyncio.create_task(batch())
        await between_rounds.wait()
        pid: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        closing = asyncio.create_task(acknowledge(pid))
        await _blocked_on_a_lock(sessions, await pid)
        go_on.set()  # the batch now pokes the escalation and marks the alert first-notified
        await asyncio.wait_for(asyncio.gather(batching, closing), 15)

        async with sessions() as s:
            alert = await s.get(Alert, alert_id)
            escalation = await s.get(Escalation, alert_id)
            statuses = [(await s.get(NotificationAttempt, i)).status  # type: ignore[union-attr]
                        for i in (call_id, sms_id)]
    finally:
        await engine.dispose()
    assert alert is not None and alert.status == "acknowledged"
    assert alert.first_notified_at is not None  # the batch's mark, kept
    assert escalation is not None and escalation.state == "watching"
    assert statuses == ["not_reached", "queued"]  # the SMS was with Twilio already: not voided
