"""CPU per sweep call's webhooks through the real gateway app (issue 15), like bench.hook_cpu for
an alarm's callbacks.

On a fresh database, a running sweep whose residents' entries are calling, each with its call
and its SMS (with the link) queued at Twilio. Twilio's side is a child process posting each call's
webhooks signed, as the fake does: call initiated, ringing, in-progress, the <Gather>'s key (1,
or 9 for every `--help-every`th resident), completed; SMS queued, sent, delivered; `--rate`
calls a second, each webhook at its own time after its call's start. The figure is this
process's CPU (user + system) from the end of the warm-up calls to the last answer, per call:
the webhooks alone, without the runner's ticks and the dispatcher's sends (bench.sweep has those).
"""

from __future__ import annotations

import argparse
import multiprocessing
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert

from alert_gateway.db.models import NotificationAttempt, Sweep, SweepEntry
from alert_gateway.services import Services, build_services
from alert_gateway.settings import Settings
from alert_gateway.web.app import make_app, make_runner

from .common import say, write_results
from .db import fresh_database, seed
from .gatewayproc import ACCOUNT_SID, AUTH_TOKEN
from .hook_cpu import PUBLIC, WARM, _call, _sms, run_logging_as_served, serve_and_time

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
spawn = multiprocessing.get_context("spawn")
Plan = list[tuple[float, str, dict[str, str]]]


async def calling_entries(services: Services, n: int) -> list[tuple[int, int]]:
    """A running sweep of n residents, each calling, with a call and an SMS Twilio took;
    returns (sms attempt id, call attempt id) per resident."""
    out: list[tuple[int, int]] = []
    async with services.sessions() as session:
        sweep = Sweep(message_ja="安否確認", message_en="Safety check", started_by="bench",
                      created_at=NOW, updated_at=NOW)
        session.add(sweep)
        await session.flush()
        for i in range(n):
            ids: list[int] = []
            for channel, sid in (("sms", f"SM{i:032d}"), ("voice", f"CA{i:032d}")):
                ids.append((await session.exec(insert(NotificationAttempt).returning(  # type: ignore[call-overload]
                    NotificationAttempt.id), params={
                    "alert_id": None, "target": "resident", "to_number": f"+8176{i:08d}",
                    "channel": channel, "status": "queued", "provider_sid": sid,
                    "purpose": "sweep", "priority": 5, "dial_no": 1, "retries": 0,
                    "created_at": NOW, "not_before": NOW, "sent_at": NOW})).scalar_one())
            session.add(SweepEntry(sweep_id=sweep.id or 0, resident_id=f"r-sw{i:06d}", rank=i,
                                   state="calling", tries=1, attempt_id=ids[1], updated_at=NOW))
            out.append((ids[0], ids[1]))
        await session.commit()
    return out


def lifecycle(sms: int, call: int, i: int, key: str) -> Plan:
    """(seconds after the call's start, path?query, form) of one resident's webhooks."""
    s, c = f"SM{i:032d}", f"CA{i:032d}"
    sms_url, call_url = f"/twilio/sms/status?attempt={sms}", f"/twilio/voice/status?attempt={call}"
    gather = {**_call(c, "in-progress", 3), "Digits": key, "FinishedOnKey": ""}
    return [(0.0, sms_url, _sms(s, "queued")), (0.1, call_url, _call(c, "initiated", 0)),
            (0.3, sms_url, _sms(s, "sent")), (0.6, call_url, _call(c, "ringing", 1)),
            (1.5, sms_url, _sms(s, "delivered")), (2.5, call_url, _call(c, "in-progress", 2)),
            (8.0, f"/twilio/voice/gather?attempt={call}", gather),
            (9.0, call_url, {**_call(c, "completed", 4), "CallDuration": "7", "Duration": "1"})]


async def run(url: str, n: int, rate: float, help_every: int) -> dict[str, Any]:
    """Serve the app, let the child post, time our CPU over the measured calls."""
    settings = Settings(database_url=url, public_url=PUBLIC, twilio_account_sid=ACCOUNT_SID,
                        twilio_auth_token=AUTH_TOKEN)
    services = build_services(settings)
    pairs = await calling_entries(services, n + WARM)
    plans = [lifecycle(sms, call, i, "9" if help_every and i % help_every == 0 else "1")
             for i, (sms, call) in enumerate(pairs)]
    timed = await serve_and_time(services, make_runner(make_app(services)), plans, rate)
    return {"calls": n, "rate": rate, "help_every": help_every,
            "webhooks": sum(len(p) for p in plans[WARM:]),
            "transactions": timed.transactions, "autocommit_rounds": timed.autocommit_rounds,
            "cpu_ms_per_call": round(1000 * timed.cpu / n, 2), "wall_s": round(timed.wall, 2)}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """A fresh database, residents and their calling entries, then the webhooks."""
    async with fresh_database(args.db) as url:
        await seed(url, [f"sw{i:06d}" for i in range(args.calls + WARM)], with_contacts=False)
        return await run(url, args.calls, args.rate, args.help_every)


def main() -> None:
    """Parse arguments, run, write bench/results/sweep_hooks-<db>.json."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--rate", type=float, default=20.0, help="calls a second (bench.sweep: ~20)")
    p.add_argument("--help-every", type=int, default=50, help="every nth resident presses 9")
    a = p.parse_args()
    out, load = run_logging_as_served(main_async(a))
    say(f"sweep_hooks db={a.db} calls={a.calls} rate={a.rate} webhooks={out['webhooks']} "
        f"transactions={out['transactions']} autocommit_rounds={out['autocommit_rounds']} "
        f"cpu_per_call={out['cpu_ms_per_call']}ms load={load[0]:.2f}")
    write_results("sweep_hooks", a.db, {**out, "loadavg": list(load)})


if __name__ == "__main__":
    main()
