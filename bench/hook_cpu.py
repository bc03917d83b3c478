"""CPU per Twilio status callback through the real gateway app (issue 11), against bench.floor's
`webhook` (aiohttp + form + request_validator + 204, ≈ 0.22 ms).

The app is `web.app.make_app` on real services with `make_runner` (our access log, JSON logging
at INFO to /dev/null), on a fresh database with alerts whose SMS and call were sent. Twilio's side
is a child process posting each alert's callbacks signed, as the fake does (SMS queued, sent,
delivered; call initiated, ringing, in-progress, AMD human, completed), `--rate` alerts a second,
each callback at its own time after its alert's start. The figure is this process's CPU
(user + system) from the end of the warm-up alerts to the last answer, per callback posted.
`--idle` posts only statuses that change nothing (queued / initiated): the HTTP path alone.
`--floor` serves bench.floor's minimal handler instead of the gateway, paced the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import time
import warnings
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from alert_gateway.logs import configure_logging
from alert_gateway.services import Services, build_services
from alert_gateway.settings import Settings
from alert_gateway.web.app import make_app, make_runner

from .callback_writes import alerts_with_attempts
from .common import free_port, say, write_results
from .db import fresh_database, seed
from .gatewayproc import ACCOUNT_SID, AUTH_TOKEN

PUBLIC = "https://gw.example"
WARM = 20  # alerts posted before the measurement starts
spawn = multiprocessing.get_context("spawn")


def _sms(sid: str, status: str) -> dict[str, str]:
    return {"MessageSid": sid, "MessageStatus": status, "SmsSid": sid, "SmsStatus": status,
            "AccountSid": ACCOUNT_SID, "From": "+815011112222", "To": "+819000000001",
            "ApiVersion": "2010-04-01"}


def _call(sid: str, status: str, seq: int) -> dict[str, str]:
    return {"CallSid": sid, "AccountSid": ACCOUNT_SID, "From": "+815011112222",
            "To": "+819000000001", "Called": "+819000000001", "Caller": "+815011112222",
            "CallStatus": status, "Direction": "outbound-api", "ApiVersion": "2010-04-01",
            "CallbackSource": "call-progress-events", "SequenceNumber": str(seq),
            "Timestamp": "Sun, 06 Dec 2026 03:00:00 +0000"}


def lifecycle(sms: int, call: int, i: int, idle: bool) -> list[tuple[float, str, dict[str, str]]]:
    """(seconds after the alert's start, path?query, form) of one alert's callbacks."""
    s, c = f"SM{i:032d}", f"CA{i:032d}"
    sms_url, call_url = f"/twilio/sms/status?attempt={sms}", f"/twilio/voice/status?attempt={call}"
    if idle:
        return [(0.0, sms_url, _sms(s, "queued")), (0.1, call_url, _call(c, "initiated", 0))]
    amd = {"CallSid": c, "AccountSid": ACCOUNT_SID, "AnsweredBy": "human",
           "MachineDetectionDuration": "1200"}
    return [(0.0, sms_url, _sms(s, "queued")), (0.1, call_url, _call(c, "initiated", 0)),
            (0.3, sms_url, _sms(s, "sent")), (0.6, call_url, _call(c, "ringing", 1)),
            (1.5, sms_url, _sms(s, "delivered")), (2.5, call_url, _call(c, "in-progress", 2)),
            (4.0, f"/twilio/voice/amd?attempt={call}", amd),
            (9.0, call_url, {**_call(c, "completed", 3), "CallDuration": "7", "Duration": "1"})]


def run_logging_as_served(run: Coroutine[Any, Any, dict[str, Any]]
                          ) -> tuple[dict[str, Any], tuple[float, float, float]]:
    """Run with logging formatted as `serve` does (every access line), written nowhere; the
    result and the load average at the start."""
    warnings.simplefilter("ignore", DeprecationWarning)
    with open(os.devnull, "w") as sink:
        configure_logging("INFO", True, stream=sink)
        load = os.getloadavg()
        out = asyncio.run(run)
        logging.getLogger().handlers.clear()
    return out, load


def post_plans(port: int, plans: list[list[tuple[float, str, dict[str, str]]]], rate: float,
               warm: Any) -> None:
    """Child: Twilio's side, every plan's webhooks at their times (plan i starts at i / rate),
    signed; the first WARM plans, then `warm` is set, then the rest."""
    validator = RequestValidator(AUTH_TOKEN)
    signed = [[(at, url, form, validator.compute_signature(PUBLIC + url, form))
               for at, url, form in plan] for plan in plans]

    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            async def one(at: float, url: str, form: dict[str, str], sig: str) -> None:
                await asyncio.sleep(at)
                async with session.post(f"http://127.0.0.1:{port}{url}", data=form,
                                        headers={"X-Twilio-Signature": sig}) as r:
                    assert r.status in (200, 204), (r.status, await r.text())  # TwiML: 200

            async def plans_of(part: list[Any]) -> None:
                await asyncio.gather(*(one(i / rate + at, url, form, sig)
                                       for i, plan in enumerate(part)
                                       for at, url, form, sig in plan))

            await plans_of(signed[:WARM])
            warm.set()
            await plans_of(signed[WARM:])

    asyncio.run(main())


@dataclass
class Timed:
    """Our CPU and wall time over the measured plans, and the group commit's rounds."""

    cpu: float
    wall: float
    transactions: int
    autocommit_rounds: int


async def serve_and_time(services: Services, runner: web.AppRunner,
                         plans: list[list[tuple[float, str, dict[str, str]]]],
                         rate: float) -> Timed:
    """Serve the app, let a child process post the plans, time our CPU over the measured ones."""
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    warm = spawn.Event()
    child = spawn.Process(target=post_plans, args=(port, plans, rate, warm), daemon=True)
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
    return Timed(cpu, wall, services.writes.transactions - tx0,
                 services.writes.autocommitted - ac0)


def floor_app() -> web.Application:
    """bench.floor's `webhook`: parse the form, check the signature, 204; no logging."""
    validator = RequestValidator(AUTH_TOKEN)

    async def status(request: web.Request) -> web.Response:
        form = await request.post()
        if not validator.validate(PUBLIC + request.rel_url.path_qs, form,
                                  request.headers.get("X-Twilio-Signature", "")):
            raise web.HTTPForbidden()
        return web.Response(status=204)

    app = web.Application()
    for path in ("/twilio/sms/status", "/twilio/voice/status", "/twilio/voice/amd"):
        app.router.add_post(path, status)
    return app


async def run(url: str, n: int, rate: float, idle: bool, floor: bool = False) -> dict[str, Any]:
    """Serve the app, let the child post, time our CPU over the measured alerts."""
    settings = Settings(database_url=url, public_url=PUBLIC, twilio_account_sid=ACCOUNT_SID,
                        twilio_auth_token=AUTH_TOKEN)
    services = build_services(settings)
    pairs = await alerts_with_attempts(services, n + WARM)
    plans = [lifecycle(sms, call, i, idle) for i, (sms, call) in enumerate(pairs)]
    runner = web.AppRunner(floor_app(), access_log=None) if floor else make_runner(make_app(services))
    timed = await serve_and_time(services, runner, plans, rate)
    hooks = sum(len(p) for p in plans[WARM:])
    return {"alerts": n, "rate": rate, "idle": idle, "floor": floor, "callbacks": hooks,
            "transactions": timed.transactions, "autocommit_rounds": timed.autocommit_rounds,
            "cpu_us_per_callback": round(1e6 * timed.cpu / hooks, 1),
            "cpu_ms_per_alert": round(1000 * timed.cpu / n, 2), "wall_s": round(timed.wall, 2)}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """A fresh database, residents and sent attempts, then the callbacks."""
    async with fresh_database(args.db) as url:
        await seed(url, [f"dev{i:06d}" for i in range(args.alerts + WARM)])
        return await run(url, args.alerts, args.rate, args.idle, args.floor)


def main() -> None:
    """Parse arguments, run, write bench/results/hook_cpu-<db>.json."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    p.add_argument("--alerts", type=int, default=100)
    p.add_argument("--rate", type=float, default=10.0, help="alerts a second")
    p.add_argument("--idle", action="store_true", help="only callbacks that change nothing")
    p.add_argument("--floor", action="store_true", help="bench.floor's minimal handler, no gateway")
    a = p.parse_args()
    out, load = run_logging_as_served(main_async(a))
    say(f"hook_cpu db={a.db} alerts={a.alerts} rate={a.rate} idle={a.idle} floor={a.floor} "
        f"callbacks={out['callbacks']} transactions={out['transactions']} "
        f"autocommit_rounds={out['autocommit_rounds']} "
        f"cpu_per_callback={out['cpu_us_per_callback']}us cpu_per_alert={out['cpu_ms_per_alert']}ms "
        f"load={load[0]:.2f}")
    write_results("hook_cpu", a.db, {**out, "loadavg": list(load)})


if __name__ == "__main__":
    main()
