"""Alarm publish → first Messages/Calls request at the fake Twilio (or → `received` feedback
while no escalation engine is wired), p50/p90/p99/max at several alarm rates from distinct devices."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable, Iterable

from .broker import dedicated_broker
from .common import percentiles, poll_until, quiet_collector, say, write_results
from .db import contact_phone, fresh_database, seed
from .faketwilio import FirstSends, attempts_sent_twice, fake_twilio, sends_per_number
from .gatewayproc import GatewayProcess, Replicas, engine_wired, self_cpu_seconds
from .loadgen import alarm_packet
from .mqttraw import RawMqtt
from .probe import RoundTrip


class Feedback:
    """`received` feedback times by alarm id."""

    def __init__(self) -> None:
        self.received: dict[str, float] = {}

    def on_publish(self, topic: str, payload: bytes, at: float) -> None:
        """Record the first `received` per alarm."""
        msg = json.loads(payload)
        if msg.get("state") == "received":
            self.received.setdefault(msg["ref"], at)


Ends = Callable[[], dict[str, float]]


async def run_rate(gw: Replicas, pub: RawMqtt, probe: RoundTrip, rate: int, duration: float,
                   first: int, ends: Ends, mode: str) -> dict[str, object]:
    """Publish rate*duration alarms from devices first.. (each with a raw MQTT probe beside it)
    and collect both latencies."""
    n = int(rate * duration)
    sent: dict[str, float] = {}
    key: dict[str, str] = {}
    cpu0, gcpu0, t0 = self_cpu_seconds(), gw.cpu_seconds(), time.perf_counter()
    for k in range(n):
        delay = t0 + k / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        i = first + k
        msg_id = f"al{i:06d}"
        key[msg_id] = msg_id if mode == "received" else contact_phone(i)
        pub.write(alarm_packet(pub, gw.topic_root, f"dev{i:06d}", msg_id, "sos"))
        sent[msg_id] = time.perf_counter()
        probe.publish(pub, i)
        await pub.drain()
    achieved = n / (time.perf_counter() - t0)
    await poll_until(lambda: _all_in(ends(), (key[m] for m in sent)), 30, 0.1)
    raw = percentiles(probe.latencies(range(first, first + n)))
    elapsed = time.perf_counter() - t0
    done = ends()
    lat = [done[key[m]] - t for m, t in sent.items() if key[m] in done]
    served_cpu = gw.cpu_seconds() - gcpu0
    # Each alarm's whole cost includes the callbacks after its first request: wait until quiet.
    settled = await settle(gw)
    return {"rate": rate, "achieved_rate": round(achieved, 1), "published": n,
            "missing": n - len(lat), **percentiles(lat),
            "mqtt_round_trip": raw,
            "gateway_cpu_percent": round(100 * served_cpu / elapsed, 1),
            "gateway_cpu_ms_per_alarm": round(1000 * (gw.cpu_seconds() - gcpu0) / n, 1)
            if settled else None,
            "loadgen_cpu_percent": round(100 * (self_cpu_seconds() - cpu0) / elapsed, 1),
            "gateway_rss_mib": round(gw.rss_bytes() / 2**20, 1)}


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    """Seed, start broker, fake Twilio and gateway, run each rate in turn."""
    rates = [int(r) for r in args.rates.split(",")]
    total = sum(int(r * args.duration) for r in rates)
    mode = "first_notification" if engine_wired() else "received"
    results: list[dict[str, object]] = []
    async with fresh_database(args.db) as url, fake_twilio() as (base, fake):
        await seed(url, [f"dev{i:06d}" for i in range(total)])
        with dedicated_broker() as port:
            gw = Replicas.of(GatewayProcess(url, port, twilio_base=base,
                                            extra_env={"send_rate_per_second": "100000",
                                                       "send_concurrency": str(args.send_concurrency)}),
                             args.replicas)
            fb = Feedback()
            sub, pub = RawMqtt("agbench-fb", fb.on_publish), RawMqtt("agbench-pub")
            await sub.connect(port)
            await sub.subscribe(f"{gw.topic_root}/+/feedback", 0)
            await pub.connect(port)
            probe = RoundTrip()
            await probe.start(port)
            quiet_collector()
            await gw.start()

            firsts = FirstSends(fake)

            def ends() -> dict[str, float]:
                if mode == "received":
                    return fb.received
                return {to: r.at for to, r in firsts().items()}

            try:
                first = 0
                for rate in rates:
                    result = await run_rate(gw, pub, probe, rate, args.duration, first, ends, mode)
                    first += int(rate * args.duration)
                    results.append(result)
                    say(_line(args.db, mode, result))
            finally:
                gw.stop()
                await pub.close()
                await sub.close()
                await probe.close()
        doubled = sum(1 for count in sends_per_number(fake).values() if count > 1)
        twice = attempts_sent_twice(fake)
    say(f"alarm_latency db={args.db} replicas={args.replicas}: "
        f"{doubled} numbers got the same kind of request more than once (later steps and re-dials "
        f"included); {twice} attempts were sent twice")
    return {"mode": mode, "duration_s": args.duration, "send_concurrency": args.send_concurrency,
            "replicas": args.replicas, "numbers_sent_same_kind_twice": doubled, "results": results}


def _all_in(done: dict[str, float], keys: Iterable[str]) -> bool:
    return all(k in done for k in keys)


async def settle(gw: Replicas, limit: float = 60.0) -> bool:
    """Until the gateway used under 2 % CPU for a whole second (bounded); False if it never did."""
    deadline = time.monotonic() + limit
    last = gw.cpu_seconds()
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        now = gw.cpu_seconds()
        if now - last < 0.02:
            return True
        last = now
    return False


def _line(db: str, mode: str, r: dict[str, object]) -> str:
    raw: dict[str, object] = r["mqtt_round_trip"]  # type: ignore[assignment]
    what = "alarm→first Twilio request" if mode == "first_notification" else \
        "alarm→received feedback (stored+acked; no escalation engine wired)"
    return (f"alarm_latency db={db} {what} rate={r['rate']}/s (achieved {r['achieved_rate']}) "
            f"n={r['n']} missing={r['missing']} p50={r['p50_ms']}ms p90={r['p90_ms']}ms "
            f"p99={r['p99_ms']}ms max={r['max_ms']}ms gateway_cpu={r['gateway_cpu_percent']}% "
            f"cpu_per_alarm={r['gateway_cpu_ms_per_alarm']}ms | raw MQTT pub→sub same run: "
            f"p50={raw['p50_ms']}ms p99={raw['p99_ms']}ms")


def main() -> None:
    """Parse arguments, run, write bench/results/alarm_latency-<db>.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rates", default="10,100,500", help="alarms per second, comma-separated")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per rate")
    parser.add_argument("--send-concurrency", type=int, default=256,
                        help="settings.send_concurrency: requests in flight; at 100 alarms/s "
                             "(200 sends/s) and ~0.3 s per request+record, 16 caps it at ~60 sends/s")
    parser.add_argument("--replicas", type=int, default=1,
                        help="gateways sharing the database and the alarms (PostgreSQL only)")
    args = parser.parse_args()
    if args.replicas > 1 and args.db != "postgres":
        parser.error("--replicas needs --db postgres (SQLite is one instance)")
    out = asyncio.run(main_async(args))
    write_results("alarm_latency" if args.replicas == 1 else f"alarm_latency-{args.replicas}replicas",
                  args.db, out)


if __name__ == "__main__":
    main()
