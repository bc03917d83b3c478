"""CPU of the database writes one notification's lifecycle costs: the send result and every status
callback of an SMS and a call, written as the webhooks and the dispatcher write them.

In-process and below HTTP (the signature check and the request parsing are not counted), so the
figure is the process CPU time of the writes alone, robust on a shared machine: a busy neighbour
stretches the wall time, not the CPU. `--alone` writes each in its own transaction instead of the
group commit, to see whether sharing transactions still pays. `--rate R` starts R alerts a second,
each write of an alert at its own time after the alert's start (AT, scaled by `--stretch`), as
Twilio's callbacks come at a steady alarm rate; without it, every alert's wave runs at once.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, insert
from sqlmodel.ext.asyncio.session import AsyncSession

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import Alert, AlertResponder, Escalation, NotificationAttempt
from alert_gateway.outbox import results
from alert_gateway.responses import callbacks
from alert_gateway.services import Services, build_services
from alert_gateway.settings import Settings
from alert_gateway.twilio.client import ProviderResult

from .common import say, write_results
from .db import fresh_database, seed

Work = Callable[[AsyncSession], Awaitable[Any]]
Write = tuple[int, Work, bool]  # the attempt it writes, how, and whether it can wait for company
# Seconds after the sends when each wave's writes come with --rate (SMS, call): the results at
# once, then sent / ringing, delivered / answered, the person's voice detected, the call's end.
AT = [(0.0, 0.0), (0.3, 0.6), (1.5, 2.5), (4.0,), (9.0,)]
NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


async def alerts_with_attempts(services: Services, n: int) -> list[tuple[int, int]]:
    """n alerts, each with an escalation, a notified contact and a queued-to-send SMS and call;
    returns (sms attempt id, call attempt id) per alert."""
    out: list[tuple[int, int]] = []
    async with services.sessions() as session:
        for i in range(n):
            alert = Alert(resident_id=f"r-dev{i:06d}", device_id=f"dev{i:06d}", type="sos",
                          severity="P1", opened_at=NOW, updated_at=NOW)
            session.add(alert)
            await session.flush()
            assert alert.id is not None
            session.add(Escalation(alert_id=alert.id, policy="default", severity_rank=1,
                                   state="running", started_at=NOW, updated_at=NOW))
            contact_id = i + 1  # seeded in device order
            session.add(AlertResponder(alert_id=alert.id, contact_id=contact_id, state="notified",
                                       updated_at=NOW))
            ids = []
            for channel in ("sms", "voice"):
                row: int = (await session.exec(insert(NotificationAttempt).returning(  # type: ignore[call-overload]
                    NotificationAttempt.id), params={
                    "alert_id": alert.id, "target": "contact", "contact_id": contact_id,
                    "to_number": f"+8190{i:08d}", "channel": channel, "status": "sending",
                    "purpose": "alert", "priority": 1, "dial_no": 1, "retries": 0,
                    "created_at": NOW, "not_before": NOW})).scalar_one()
                ids.append(row)
            out.append((ids[0], ids[1]))
        await session.commit()
    return out


def _lifecycle(services: Services, sms: int, call: int, i: int) -> list[list[Write]]:
    """The writes of one alert's SMS and call, in the order Twilio causes them (waves: the writes
    of one wave may run together)."""
    clock, metrics = services.clock, services.metrics
    sms_sid, call_sid = f"SM{i:032d}", f"CA{i:032d}"

    def result(attempt_id: int, sid: str) -> Work:
        return lambda s: results.record(s, attempt_id, ProviderResult(sid=sid, status="queued"),
                                        now=clock.now(), metrics=metrics)

    def sms_status(status: str) -> Work:
        return lambda s: callbacks.message_status(s, attempt_id=sms, sid=sms_sid, status=status,
                                                  error_code=None, now=clock.now(), metrics=metrics)

    def call_status(status: str) -> Work:
        return lambda s: callbacks.call_status(s, attempt_id=call, sid=call_sid, status=status,
                                               answered_by=None, now=clock.now(), metrics=metrics)

    amd: Work = lambda s: callbacks.amd(s, attempt_id=call, sid=call_sid, answered_by="human",  # noqa: E731
                                        now=clock.now(), metrics=metrics)
    # can wait: what the webhooks say (a send result frees a dispatcher slot: it never waits;
    # the final "completed" drives the next step)
    return [[(sms, result(sms, sms_sid), False), (call, result(call, call_sid), False)],
            [(sms, sms_status("sent"), True), (call, call_status("ringing"), True)],
            [(sms, sms_status("delivered"), True), (call, call_status("in-progress"), True)],
            [(call, amd, True)], [(call, call_status("completed"), False)]]


async def _alone(services: Services, work: Work) -> Any:
    async with services.sessions() as session:
        out = await work(session)
        await session.commit()
    return out


async def run(url: str, n: int, alone: bool, rate: float | None = None,
              stretch: float = 1.0) -> dict[str, object]:
    """Write n lifecycles: all alerts' waves concurrently, or `rate` alerts a second."""
    settings = Settings(database_url=url)
    services = build_services(settings, clock=FakeClock(NOW))
    try:
        pairs = await alerts_with_attempts(services, n)
        plans = [_lifecycle(services, sms, call, i) for i, (sms, call) in enumerate(pairs)]
        # Commits before the Core writes preloaded each write's row in the group commit.
        preload = "preload" in inspect.signature(services.writes.run).parameters
        lingers = "can_wait" in inspect.signature(services.writes.run).parameters

        def write(attempt_id: int, work: Work, can_wait: bool) -> Awaitable[Any]:
            if alone:
                return _alone(services, work)
            if preload:
                return services.writes.run(work, preload=(NotificationAttempt, attempt_id))  # type: ignore[call-arg]
            if lingers:
                return services.writes.run(work, can_wait=can_wait)
            return services.writes.run(work)

        async def at(delay: float, w: Write) -> None:
            await asyncio.sleep(delay)
            await write(*w)

        def paced(plan: list[list[Write]], start: float) -> list[Awaitable[None]]:
            return [at(start + stretch * after, w) for wave, times in zip(plan, AT, strict=True)
                    for w, after in zip(wave, times, strict=True)]

        statements = 0

        def counted(*_: Any) -> None:
            nonlocal statements
            statements += 1

        event.listen(services.engine.sync_engine, "before_cursor_execute", counted)
        cpu0, wall0, tx0 = time.process_time(), time.perf_counter(), services.writes.transactions
        if rate:
            await asyncio.gather(*(one for i, plan in enumerate(plans) for one in paced(plan, i / rate)))
        for wave in range(len(plans[0]) if not rate else 0):
            await asyncio.gather(*(write(*w) for plan in plans for w in plan[wave]))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        event.remove(services.engine.sync_engine, "before_cursor_execute", counted)
        writes = sum(len(w) for w in plans[0]) * n
        return {"alerts": n, "writes": writes, "alone": alone, "rate": rate, "stretch": stretch,
                "transactions": writes if alone else services.writes.transactions - tx0,
                "statements": statements,
                "cpu_ms_per_lifecycle": round(1000 * cpu / n, 2),
                "cpu_us_per_write": round(1e6 * cpu / writes, 1), "wall_s": round(wall, 2)}
    finally:
        await services.close()


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    """A fresh database, n residents with one contact each, then the writes."""
    async with fresh_database(args.db) as url:
        await seed(url, [f"dev{i:06d}" for i in range(args.alerts)])
        out = await run(url, args.alerts, args.alone, args.rate, args.stretch)
    say(f"callback_writes db={args.db} alerts={out['alerts']} writes={out['writes']} "
        f"alone={out['alone']} rate={out['rate']} transactions={out['transactions']} "
        f"statements={out['statements']} "
        f"cpu_per_lifecycle={out['cpu_ms_per_lifecycle']}ms cpu_per_write={out['cpu_us_per_write']}us "
        f"wall={out['wall_s']}s")
    return out


def main() -> None:
    """Parse arguments, run, write bench/results/callback_writes-<db>.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--alerts", type=int, default=300)
    parser.add_argument("--alone", action="store_true",
                        help="each write in its own transaction instead of the group commit")
    parser.add_argument("--rate", type=float, default=None,
                        help="alerts started per second (default: every alert's wave at once)")
    parser.add_argument("--stretch", type=float, default=1.0,
                        help="with --rate: times each write's delay after its alert's start (AT)")
    args = parser.parse_args()
    write_results("callback_writes", args.db, asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
