"""CPU of storing a storm and planning its first steps, in-process: batches of alarms stored
with their P1 first steps planned and claimed in the same transaction (the gateway's intake),
then the engine's ticks that plan the P3 first steps intake left due.

No broker, HTTP or Twilio: the figures are process CPU time (all threads, so aiosqlite's too)
per alarm stored (`store_batch` with intake, and its commit) and per escalation the engine
planned, and the SQL statements per batch and per tick. They hold still on a shared machine
where the storm bench's times do not: a busy neighbour stretches the wall time, not the CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event

from alert_gateway.clock import FakeClock
from alert_gateway.commands.serve import GC_THRESHOLDS
from alert_gateway.db.engine import is_sqlite
from alert_gateway.escalation.engine import EscalationEngine
from alert_gateway.escalation.intake import Intake
from alert_gateway.escalation.policy_file import load_policies
from alert_gateway.escalation.steps import Stepper
from alert_gateway.ingest.parse import Incoming, Rejection, parse_message
from alert_gateway.ingest.store import store_batch
from alert_gateway.services import build_services
from alert_gateway.settings import Settings
from devices.contract import Topics

from .common import say, write_results
from .db import fresh_database, seed
from .storm import kind_of

TOPICS = Topics()
NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def _alarms(first: int, n: int, p3_every: int) -> list[Incoming | Rejection]:
    out = []
    for i in range(first, first + n):
        body = (f'{{"id": "st{i:06d}", "type": "{kind_of(i, p3_every)}", '
                f'"ts": "{NOW.isoformat()}", "qualifier": "new"}}')
        out.append(parse_message(f"{TOPICS.root}/dev{i:06d}/alarm", body.encode(), topics=TOPICS,
                                 max_bytes=4096, received_at=NOW))
    return out


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    """Seed, then store `--batches` batches of `--batch` alarms each, timing each one."""
    n = args.batch * args.batches
    async with fresh_database(args.db) as url:
        await seed(url, [f"dev{i:06d}" for i in range(n)])
        settings = Settings(database_url=url)
        services = build_services(settings, clock=FakeClock(NOW))
        engine, sessions = services.engine, services.sessions
        intake = Intake(settings, Stepper(settings, load_policies()), None, None,  # type: ignore[arg-type]
                        lock_rows=not is_sqlite(url))  # no hand-over here: only `plan` runs
        escalations = EscalationEngine(settings, services.clock, sessions, services.bus,
                                       services.metrics, load_policies())
        statements: list[str] = []

        def note(*args: Any) -> None:
            statements.append(args[2])

        event.listen(engine.sync_engine, "before_cursor_execute", note)
        gc.collect()  # the collector as `serve` runs it, or its full passes over the seeding's
        gc.freeze()  # objects would count as storing's CPU
        gc.set_threshold(*GC_THRESHOLDS)
        cpu, wall, per_batch, claimed = [], [], [], 0
        try:
            for b in range(args.batches):
                items = _alarms(b * args.batch, args.batch, args.p3_every)
                statements.clear()
                c0, w0 = time.process_time(), time.perf_counter()
                async with sessions() as session:
                    result = await store_batch(session, items, now=NOW, skew_limit=300,
                                               cancel_min_seconds=0, cancel_grace_seconds=300,
                                               intake=intake, storm=True)  # more wait, as in a storm
                    await session.commit()
                cpu.append(time.process_time() - c0)
                wall.append(time.perf_counter() - w0)
                per_batch.append(len(statements))
                claimed += len(result.first_steps.claimed)
            ticks, c0 = [], time.process_time()
            while True:  # what intake left due (the P3s): the engine's ticks, 100 at a time
                statements.clear()
                busy, _ = await escalations.tick(NOW)
                ticks.append(len(statements))
                if not busy:
                    break
            tick_cpu = time.process_time() - c0
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", note)
            await services.close()
        planned = sum(1 for i in range(n) if kind_of(i, args.p3_every) != "sos")
    return {"alarms": n, "batch": args.batch, "p3_every": args.p3_every, "claimed_sends": claimed,
            "cpu_ms_per_alarm": round(1000 * sum(cpu) / n, 3),
            # a batch's median: the first batches' SQL compiles and a busy neighbour's moments left out
            "cpu_ms_per_alarm_median": round(1000 * statistics.median(cpu) / args.batch, 3),
            "cpu_ms_per_alarm_each_batch": [round(1000 * c / args.batch, 3) for c in cpu],
            "wall_s_each_batch": [round(w, 3) for w in wall],
            "statements_each_batch": per_batch,
            "engine_planned": planned, "engine_cpu_ms_per_escalation": round(1000 * tick_cpu / planned, 3)
            if planned else None, "engine_ticks": len(ticks), "statements_per_tick_max": max(ticks)}


def main() -> None:
    """Parse arguments, run, print one line and write bench/results/storm_store-<db>.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--batch", type=int, default=2000, help="alarms per transaction "
                        "(the gateway's ingest_batch_size default)")
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--p3-every", type=int, default=4, help="every k-th alarm is P3 (0: none)")
    args = parser.parse_args()
    out = asyncio.run(main_async(args))
    say(f"storm_store db={args.db} alarms={out['alarms']} batch={out['batch']} "
        f"cpu_ms_per_alarm={out['cpu_ms_per_alarm']} median={out['cpu_ms_per_alarm_median']} "
        f"each={out['cpu_ms_per_alarm_each_batch']} "
        f"statements={out['statements_each_batch']} claimed={out['claimed_sends']} | engine: "
        f"cpu_ms_per_escalation={out['engine_cpu_ms_per_escalation']} ticks={out['engine_ticks']} "
        f"statements_per_tick_max={out['statements_per_tick_max']}")
    write_results("storm_store", args.db, out)


if __name__ == "__main__":
    main()
