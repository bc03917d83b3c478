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
import asyncio
import logging
import multiprocessing
import os
import time
import warnings
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import insert
from twilio.request_validator import RequestValidator

from alert_gateway.db.models import NotificationAttempt, Sweep, SweepEntry
from alert_gateway.logs import configure_logging
from alert_gateway.services import Services, build_services
from alert_gateway.settings import Settings
from alert_gateway.web.app import make_app, make_runner

from .common import free_port, say, write_results
from .db import fresh_database, seed
from .gatewayproc import ACCOUNT_SID, AUTH_TOKEN
from .hook_cpu import PUBLIC, WARM, _call, _sms

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


def _post(port: int, plans: list[Plan], rate: float, warm: Any) -> None:
    """Child: Twilio's side, every call's webhooks at their times, signed."""
    validator = RequestValidator(AUTH_TOKEN)
    signed = [[(at, url, form, validator.compute_signature(PUBLIC + url, form))
               for at, url, form in plan] for plan in plans]

    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            async def one(at: float, url: str, form: dict[str, str], sig: str) -> None:
                await asyncio.sleep(at)
                async with session.post(f"http://127.0.0.1:{port}{url}", data=form,
                                        headers={"X-Twilio-Signature": sig}) as r:
                    assert r.status in (200, 204), (r.status, await r.text())

            async def calls(part: list[Any]) -> None:
                await asyncio.gather(*(one(i / rate + at, url, form, sig)
                                       for i, plan in enumerate(part)
                                       for at, url, form, sig in plan))

            await calls(signed[:WARM])
            warm.set()
            await calls(signed[WARM:])

    asyncio.run(main())


async def run(url: str, n: int, rate: float, help_every: int) -> dict[str, Any]:
    """Serve the app, let the child post, time our CPU over the measured calls."""
    settings = Settings(database_url=url, public_url=PUBLIC, twilio_account_sid=ACCOUNT_SID,
                        twilio_auth_token=AUTH_TOKEN)
    services = build_services(settings)
    pairs = await calling_entries(services, n + WARM)
    plans = [lifecycle(sms, call, i, "9" if help_every and i % help_every == 0 else "1")
             for i, (sms, call) in enumerate(pairs)]
    runner = make_runner(make_app(services))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    warm = spawn.Event()
    child = spawn.Process(target=_post, args=(port, plans, rate, warm), daemon=True)
    child.start()
    try:
        await asyncio.to_thread(warm.wait, 120)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        tx0, ac0 = services.writes.transactions, services.writes.autocommitted
        await asyncio.to_thread(child.join, 300)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        assert child.exitcode == 0, child.exitcode
    finally:
        await runner.cleanup()
        await services.close()
    return {"calls": n, "rate": rate, "help_every": help_every,
            "webhooks": sum(len(p) for p in plans[WARM:]),
            "transactions": services.writes.transactions - tx0,
            "autocommit_rounds": services.writes.autocommitted - ac0,
            "cpu_ms_per_call": round(1000 * cpu / n, 2), "wall_s": round(wall, 2)}


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
    warnings.simplefilter("ignore", DeprecationWarning)
    with open(os.devnull, "w") as sink:
        configure_logging("INFO", True, stream=sink)  # as `serve`: every access line formatted
        load = os.getloadavg()
        out = asyncio.run(main_async(a))
        logging.getLogger().handlers.clear()
    say(f"sweep_hooks db={a.db} calls={a.calls} rate={a.rate} webhooks={out['webhooks']} "
        f"transactions={out['transactions']} autocommit_rounds={out['autocommit_rounds']} "
        f"cpu_per_call={out['cpu_ms_per_call']}ms load={load[0]:.2f}")
    write_results("sweep_hooks", a.db, {**out, "loadavg": list(load)})


if __name__ == "__main__":
    main()
