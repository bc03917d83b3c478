"""CPU of one Twilio create request in the gateway: `place_call` and `send_sms` through our
TwilioSender (the official SDK) against the project's fake Twilio.

The fake runs in a child process, so the figure is the sender's own process CPU per request
(SDK, form encoding, aiohttp client), not the fake's. The fake also counts the TCP connections
the requests came on (distinct client ports): with keep-alive that is at most the concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from alert_gateway.metrics import Metrics
from alert_gateway.settings import Settings
from alert_gateway.twilio.client import TwilioSender
from alert_gateway.twilio.fake_server import make_fake_twilio_app

from .common import free_port, say, write_results
from .gatewayproc import ACCOUNT_SID, AUTH_TOKEN

PORTS_PATH = "/_bench/ports"
TWIML = ("<Response><Gather numDigits=\"1\" action=\"https://gw.example/twilio/voice/gather"
         "?attempt=1\" method=\"POST\" timeout=\"10\"><Say language=\"ja-JP\" loop=\"2\">"
         "見守り端末から緊急通報がありました。対応できる場合は 1 を押してください。</Say>"
         "</Gather><Hangup/></Response>")
BODY = "【緊急】山田花子さんの見守り端末から通報がありました。対応できる場合は 1 を返信。"


def _serve_fake(port: int, ready: Any) -> None:
    """Child process: the fake, plus a route telling how many client ports it has seen."""
    ports: set[tuple[str, int]] = set()

    @web.middleware
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == PORTS_PATH:
            return web.json_response(len(ports))
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer is not None:
            ports.add((peer[0], peer[1]))
        return await handler(request)

    async def main() -> None:
        app = make_fake_twilio_app(auth_token=AUTH_TOKEN, account_sid=ACCOUNT_SID)
        app.middlewares.insert(0, count)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


async def _connections(base: str) -> int:
    """How many TCP connections the fake has accepted requests on so far."""
    async with aiohttp.ClientSession() as s, s.get(base + PORTS_PATH) as r:
        return int(await r.json())


async def _timed(n: int, concurrency: int, one: Callable[[int], Awaitable[Any]]) -> float:
    """Process CPU seconds of n calls of `one`, `concurrency` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def run(i: int) -> None:
        async with gate:
            await one(i)

    cpu = time.process_time()
    await asyncio.gather(*(run(i) for i in range(n)))
    return time.process_time() - cpu


async def measure(n: int, concurrency: int) -> dict[str, Any]:
    """Start the fake, warm up, then time n calls and n SMS."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ready = multiprocessing.get_context("spawn").Event()
    child = multiprocessing.get_context("spawn").Process(target=_serve_fake, args=(port, ready),
                                                         daemon=True)
    child.start()
    await asyncio.to_thread(ready.wait, 30)
    settings = Settings(twilio_api_base=base, twilio_account_sid=ACCOUNT_SID,  # type: ignore[arg-type]
                        twilio_auth_token=AUTH_TOKEN, twilio_from_number="+815011112222",
                        public_url="https://gw.example", twilio_timeout_seconds=10.0)
    sender = TwilioSender(settings, Metrics())
    await sender.start()
    cb = "https://gw.example/twilio/{}/status?attempt={}"

    async def call(i: int) -> None:
        await sender.place_call(to=f"+8190{i:08d}", twiml=TWIML,
                                status_callback=cb.format("voice", i),
                                amd_callback=cb.format("amd", i))

    async def sms(i: int) -> None:
        await sender.send_sms(to=f"+8190{i:08d}", body=BODY, status_callback=cb.format("sms", i))

    try:
        await _timed(100, concurrency, sms)  # warm-up: imports, caches, the pool
        before = await _connections(base)
        started = time.perf_counter()
        call_cpu = await _timed(n, concurrency, call)
        sms_cpu = await _timed(n, concurrency, sms)
        wall = time.perf_counter() - started
        opened = await _connections(base) - before
    finally:
        await sender.close()
        child.kill()
    return {"n": n, "concurrency": concurrency,
            "place_call_cpu_us": round(call_cpu / n * 1e6), "send_sms_cpu_us": round(sms_cpu / n * 1e6),
            "requests_per_s": round(2 * n / wall), "new_connections": opened}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=16)
    a = p.parse_args()
    load = os.getloadavg()
    r = asyncio.run(measure(a.n, a.concurrency))
    say(f"place_call {r['place_call_cpu_us']} us CPU/request, send_sms {r['send_sms_cpu_us']} us "
        f"CPU/request (n={a.n} each, {a.concurrency} at a time, {r['requests_per_s']} req/s); "
        f"{r['new_connections']} new TCP connections for {2 * a.n} requests; "
        f"load avg {load[0]:.2f}")
    write_results("twilio_request", "none", {**r, "loadavg": list(load)})


if __name__ == "__main__":
    main()
