"""The stack's floor (issue 11): CPU per operation of minimal code with our libraries (no gateway
code), and what one alarm's lifecycle costs when built from nothing but those operations.

Each operation runs alone, one at a time (no shared wake-up, read or transaction), its peer in a
child process or a server (Mosquitto, PostgreSQL), so a figure is this process's CPU
(time.process_time: user + system, the kernel's loopback sends included) per operation. Each is
timed `--repeat` times over `--n` operations after a warm-up; the least is used, as a floor should:
a busy neighbour on this shared machine only adds (cache, frequency, loopback contention).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import os
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import aiomqtt
from aiohttp import web
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from .broker import dedicated_broker
from .common import free_port, say, write_results
from .db import fresh_database
from .floor_db import DbPieces
from .gatewayproc import ACCOUNT_SID, AUTH_TOKEN
from .mqttraw import RawMqtt, publish_prefix
from .twilio_request import BODY, TWIML, _serve_fake

PUBLIC = "https://gw.example"
HOOK = "/twilio/voice/status?attempt=1"
FORM = {"CallSid": "CA" + "1" * 32, "AccountSid": ACCOUNT_SID, "From": "+815011112222",
        "To": "+819000000001", "CallStatus": "ringing", "Direction": "outbound-api",
        "ApiVersion": "2010-04-01", "Called": "+819000000001", "Caller": "+815011112222",
        "CallbackSource": "call-progress-events", "SequenceNumber": "1",
        "Timestamp": "Sun, 06 Dec 2026 03:00:00 +0000"}
ROOT = "agbench-floor"
WARM = 100
PACE = 0.002  # the MQTT peer's gap: each message arrives alone, as at 10 alarms/s
spawn = multiprocessing.get_context("spawn")


class Ticks:
    """Operations a peer causes, counted where they are handled; process CPU at each repeat's end."""

    def __init__(self, n: int, repeat: int) -> None:
        self.n, self.count, self.cpu = n, 0, [0.0]
        self.bounds = {WARM + k * n for k in range(repeat + 1)}
        self.done = asyncio.Event()

    def tick(self) -> None:
        self.count += 1
        if self.count in self.bounds:
            self.cpu.append(time.process_time())
            if len(self.cpu) == len(self.bounds) + 1:
                self.done.set()

    def us(self) -> list[float]:
        return [(b - a) / self.n * 1e6 for a, b in itertools.pairwise(self.cpu[1:])]


async def timed(op: Callable[[int], Awaitable[Any]], n: int, repeat: int) -> list[float]:
    """µs of process CPU per call of `op`, one at a time, per repeat (after a warm-up)."""
    for i in range(WARM):
        await op(i)
    out = []
    for r in range(repeat):
        cpu = time.process_time()
        for i in range(n):
            await op(WARM + r * n + i)
        out.append((time.process_time() - cpu) / n * 1e6)
    return out


def _post_hooks(port: int, total: int) -> None:
    """Child: Twilio's side, `total` signed status callbacks one after another, keep-alive."""
    async def main() -> None:
        sig = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + HOOK, FORM)
        async with aiohttp.ClientSession() as s:
            for _ in range(total):
                async with s.post(f"http://127.0.0.1:{port}{HOOK}", data=FORM,
                                  headers={"X-Twilio-Signature": sig}) as r:
                    assert r.status == 204, r.status

    asyncio.run(main())


async def webhook(n: int, repeat: int) -> list[float]:
    """aiohttp server: parse the form, check X-Twilio-Signature, answer 204."""
    ticks, validator = Ticks(n, repeat), RequestValidator(AUTH_TOKEN)

    async def status(request: web.Request) -> web.Response:
        form = await request.post()
        url = PUBLIC + request.rel_url.path_qs  # Twilio signs the public URL it called
        if not validator.validate(url, form, request.headers.get("X-Twilio-Signature", "")):
            raise web.HTTPForbidden()
        ticks.tick()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/twilio/voice/status", status)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    child = spawn.Process(target=_post_hooks, args=(port, WARM + n * repeat + 1), daemon=True)
    child.start()
    try:
        await asyncio.wait_for(ticks.done.wait(), 300)
    finally:
        await asyncio.to_thread(child.join, 30)
        await runner.cleanup()
    return ticks.us()


async def twilio(n: int, repeat: int) -> dict[str, list[float]]:
    """The official SDK's async client: Calls and Messages create, against the fake in a child."""
    port, ready = free_port(), spawn.Event()
    child = spawn.Process(target=_serve_fake, args=(port, ready), daemon=True)
    child.start()
    await asyncio.to_thread(ready.wait, 30)
    cb = PUBLIC + "/twilio/{}/status?attempt={}"
    try:
        async with AsyncTwilioHttpClient() as http:
            tw = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http)
            tw.api.base_url = f"http://127.0.0.1:{port}"

            async def call(i: int) -> None:
                async with asyncio.timeout(10):  # the SDK ignores its own timeout (STACK.md)
                    await tw.calls.create_async(
                        to=f"+8190{i:08d}", from_="+815011112222", twiml=TWIML,
                        status_callback=cb.format("voice", i),
                        status_callback_event=["initiated", "ringing", "answered", "completed"],
                        machine_detection="Enable", async_amd="true",
                        async_amd_status_callback=cb.format("amd", i), timeout=25)

            async def sms(i: int) -> None:
                async with asyncio.timeout(10):
                    await tw.messages.create_async(to=f"+8190{i:08d}", from_="+815011112222",
                                                   body=BODY, status_callback=cb.format("sms", i))

            return {"twilio_call": await timed(call, n, repeat),
                    "twilio_sms": await timed(sms, n, repeat)}
    finally:
        child.kill()


def _publish_alarms(port: int, total: int) -> None:
    """Child: a device, one QoS 1 alarm every PACE seconds."""
    async def main() -> None:
        pub = RawMqtt("agbench-floor-dev")
        await pub.connect(port)
        payload = b'{"type":"sos","ts":1765000000}'
        prefix = publish_prefix(f"{ROOT}/dev1/alarm", len(payload), 1)
        for _ in range(total):
            pub.write(prefix + pub.next_pid() + payload)
            await asyncio.sleep(PACE)
        await pub.close()

    asyncio.run(main())


async def mqtt(n: int, repeat: int, feedback: bool) -> list[float]:
    """aiomqtt (MQTT v5): a QoS 1 message in and its PUBACK (paho acks), with `feedback` also a
    QoS 0 publish back, as the gateway's `received`."""
    ticks = Ticks(n, repeat)
    with dedicated_broker() as port:
        async with aiomqtt.Client("127.0.0.1", port, identifier="agbench-floor-gw",
                                  protocol=aiomqtt.ProtocolVersion.V5) as client:
            await client.subscribe(f"{ROOT}/+/alarm", qos=1)
            child = spawn.Process(target=_publish_alarms, args=(port, WARM + n * repeat + 1),
                                  daemon=True)
            child.start()
            async for m in client.messages:
                assert m.qos == 1
                if feedback:
                    await client.publish(f"{ROOT}/dev1/received", b'{"ok":true}', qos=0)
                ticks.tick()
                if ticks.done.is_set():
                    break
            await asyncio.to_thread(child.join, 30)
    return ticks.us()


async def database(kind: str, n: int, repeat: int) -> dict[str, list[float]]:
    """Every database piece on a fresh database of this kind."""
    async with fresh_database(kind) as url:
        pieces = DbPieces(url)
        await pieces.start()
        try:
            return {f"{kind}_{name}": await timed(op, n, repeat) for name, op in pieces.ops().items()}
        finally:
            await pieces.close()


# how a lifecycle does its UPDATEs and transactions: (name, update piece, transaction piece)
WAYS = (("core", "core_update", "core_tx3"), ("core_held", "core_update_held", "core_tx3_held"),
        ("session", "session_update", "session_tx3"),
        ("orm", "session_update", "orm_tx3"), ("raw", "raw_update", "raw_tx3"))


def lifecycle(low: dict[str, float], a: argparse.Namespace, dbs: list[str]) -> dict[str, float]:
    """ms of CPU per alarm: the non-database part, then + each way of doing the database part."""
    fixed = (a.mqtt_in * low["mqtt_in"] + a.mqtt_out * low["mqtt_out"] + a.calls * low["twilio_call"]
             + a.sms * low["twilio_sms"] + a.webhooks * low["webhook"]) / 1000
    out = {"without_db": fixed}
    for d in dbs:
        for way, upd, tx in WAYS:
            db = a.updates * low[f"{d}_{upd}"] + a.transactions * low[f"{d}_{tx}"]
            out[f"{d}_{way}"] = fixed + db / 1000
        # the database part batched by 10: one statement (or transaction) serves 10 alarms
        out[f"{d}_core_batched10"] = fixed + (a.updates * low[f"{d}_core_update10"]
                                              + a.transactions * low[f"{d}_core_tx3x10"]) / 10_000
    return out


async def main_async(a: argparse.Namespace) -> dict[str, Any]:
    """Time every piece, then sum one alarm's lifecycle."""
    runs: dict[str, list[float]] = {"webhook": await webhook(a.n, a.repeat)}
    runs.update(await twilio(a.n, a.repeat))
    runs["mqtt_in"] = await mqtt(a.n, a.repeat, feedback=False)
    runs["mqtt_in_out"] = await mqtt(a.n, a.repeat, feedback=True)
    dbs = a.db.split(",")
    for kind in dbs:
        runs.update(await database(kind, a.n, a.repeat))
    low = {k: min(v) for k, v in runs.items()}
    low["mqtt_out"] = low["mqtt_in_out"] - low["mqtt_in"]  # the QoS 0 publish: the difference
    for k, v in runs.items():
        say(f"{k}: {low[k]:.0f} µs CPU/op (each repeat: {', '.join(f'{x:.0f}' for x in v)})")
    say(f"mqtt_out (in_out − in): {low['mqtt_out']:.0f} µs CPU/op")
    sums = lifecycle(low, a, dbs)
    say(f"one alarm = {a.mqtt_in} QoS 1 in + {a.mqtt_out} QoS 0 out + {a.calls} call + {a.sms} SMS "
        f"+ {a.webhooks} webhooks + {a.updates} UPDATEs + {a.transactions} transactions; target 5 ms")
    for k, ms in sums.items():
        say(f"lifecycle {k}: {ms:.2f} ms CPU per alarm ({ms / 5:.1f}× the 5 ms target)")
    return {"n": a.n, "repeat": a.repeat, "counts": {k: getattr(a, k) for k in COUNTS},
            "us_per_op": {k: round(v, 1) for k, v in low.items()}, "runs_us": runs,
            "lifecycle_ms": {k: round(v, 3) for k, v in sums.items()}}


COUNTS = ("mqtt_in", "mqtt_out", "calls", "sms", "webhooks", "updates", "transactions")


def main() -> None:
    """Parse arguments, run, write bench/results/floor-none.json."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=300, help="operations per repeat")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--db", default="postgres,sqlite")
    for name, default in zip(COUNTS, (1, 1, 1, 1, 7, 9, 2), strict=True):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=default,
                       help=f"per alarm (default {default})")
    a = p.parse_args()
    warnings.simplefilter("ignore", DeprecationWarning)  # twilio 9.13's BasicAuth under aiohttp 3.14
    load = os.getloadavg()
    out = asyncio.run(main_async(a))
    after = os.getloadavg()
    say(f"load avg {load[0]:.2f} at start, {after[0]:.2f} at end")
    write_results("floor", "none", {**out, "loadavg": list(load), "loadavg_after": list(after)})


if __name__ == "__main__":
    main()
