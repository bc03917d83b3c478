"""Heartbeats: the sustained rate one gateway process takes from 100,000 devices without falling
behind (paced publisher; lag = published − counted by the gateway), its CPU and RSS; and memory
per registered device at 100,000 and 1,000,000 devices."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import tracemalloc
from datetime import UTC, datetime

import psutil

from alert_gateway.ingest.heartbeats import LastSeenBuffer

from .broker import dedicated_broker
from .common import say, write_results
from .db import fresh_database, seed
from .gatewayproc import GatewayProcess, self_cpu_seconds
from .loadgen import HeartbeatPackets, ceiling, paced
from .mqttraw import RawMqtt

METRIC = "alert_gateway_heartbeats_received_total"


def broker_pid(port: int) -> int | None:
    """The process listening on `port` (our dedicated Mosquitto), to report its CPU too."""
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            return conn.pid
    return None


def cpu_seconds(pid: int | None) -> float:
    """utime + stime of a process (0 when unknown)."""
    if pid is None:
        return 0.0
    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


async def one_rate(gw: GatewayProcess, pub: RawMqtt, packets: HeartbeatPackets, rate: int,
                   duration: float, broker: int | None = None) -> dict[str, object]:
    """Publish at `rate` for `duration` s; sample the gateway's count every second."""
    base = await gw.metric(METRIC)
    cpu0, gcpu0, bcpu0 = self_cpu_seconds(), gw.cpu_seconds(), cpu_seconds(broker)
    lags: list[int] = []
    rss_peak = 0
    sent_box = [0]

    def send(n: int) -> None:
        pub.write(packets.build(pub, n))
        sent_box[0] += n

    async def sample() -> None:
        nonlocal rss_peak
        while True:
            await asyncio.sleep(1.0)
            seen = await gw.metric(METRIC) - base
            lags.append(int(sent_box[0] - seen))
            rss_peak = max(rss_peak, gw.rss_bytes())

    sampler = asyncio.create_task(sample())
    sent, spent = await paced(rate, duration, send, pub.drain)
    sampler.cancel()
    seen = await gw.metric(METRIC) - base
    gw_cpu = gw.cpu_seconds() - gcpu0
    broker_cpu = cpu_seconds(broker) - bcpu0
    lag_end = int(sent - seen)
    caught_up_at = time.perf_counter()
    for _ in range(300):  # how long until the gateway has counted everything (bounded: 30 s)
        if await gw.metric(METRIC) - base >= sent:
            break
        await asyncio.sleep(0.1)
    drain_s = time.perf_counter() - caught_up_at
    half = lags[len(lags) // 2] if lags else 0
    return {
        "target_rate": rate, "published_rate": round(sent / spent), "gateway_rate":
        round(seen / spent), "lag_mid": half, "lag_end": lag_end,
        "falling_behind": lag_end > max(rate * 0.5, 1000) and lag_end > half,
        "drain_after_s": round(drain_s, 2),
        "gateway_cpu_percent": round(100 * gw_cpu / spent, 1),
        "gateway_cpu_us_per_heartbeat": round(1e6 * gw_cpu / seen, 1) if seen else None,
        "broker_cpu_percent": round(100 * broker_cpu / spent, 1),
        "loadavg_1min_after": round(os.getloadavg()[0], 2),
        "loadgen_cpu_percent": round(100 * (self_cpu_seconds() - cpu0) / spent, 1),
        "gateway_rss_mib": round(max(rss_peak, gw.rss_bytes()) / 2**20, 1),
    }


def buffer_bytes_per_device(n: int) -> float:
    """tracemalloc: bytes held by a LastSeenBuffer that knows n devices (battery + firmware)."""
    ids = [f"hb{i:07d}" for i in range(n)]  # the ids themselves arrive with each message anyway
    now = datetime.now(UTC)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    buf = LastSeenBuffer()
    for i, d in enumerate(ids):
        buf.note(d, now, battery=i % 100, firmware="1.2.3")
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del buf
    return (after - before) / n


async def rss_per_device(gw: GatewayProcess, pub: RawMqtt, packets: HeartbeatPackets,
                         n: int) -> float:
    """Gateway RSS growth after one heartbeat from each of n devices (nothing flushed yet)."""
    before = gw.rss_bytes()
    base = await gw.metric(METRIC)
    for start in range(0, n, 5000):
        pub.write(packets.build(pub, min(5000, n - start)))
        await pub.drain()
    for _ in range(600):
        if await gw.metric(METRIC) - base >= n:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)
    return (gw.rss_bytes() - before) / n


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    """Ceiling, then each rate against one gateway, then memory figures."""
    ids = [f"hb{i:06d}" for i in range(args.devices)]
    out: dict[str, object] = {"devices": args.devices, "duration_s": args.duration, "qos": 1}
    with dedicated_broker() as port:
        out["loadgen_ceiling"] = await ceiling(port, 3.0, args.devices)
    say(f"heartbeats loadgen ceiling: {out['loadgen_ceiling']}")
    async with fresh_database(args.db) as url:
        await seed(url, ids, with_contacts=False)
        with dedicated_broker() as port:
            env = {"heartbeat_flush_seconds": "5"} | dict(kv.split("=", 1) for kv in args.env)
            out["gateway_env"] = env
            gw = GatewayProcess(url, port, extra_env=env)
            pub = RawMqtt("agbench-hb")
            await pub.connect(port)
            await gw.start()
            try:
                packets = HeartbeatPackets(gw.topic_root, ids)
                rates = []
                for rate in (int(r) for r in args.rates.split(",")):
                    r = await one_rate(gw, pub, packets, rate, args.duration, broker_pid(port))
                    rates.append(r)
                    say(f"heartbeats db={args.db} target={rate}/s published={r['published_rate']}/s "
                        f"gateway={r['gateway_rate']}/s lag_end={r['lag_end']} "
                        f"behind={r['falling_behind']} gateway_cpu={r['gateway_cpu_percent']}% "
                        f"({r['gateway_cpu_us_per_heartbeat']} µs/heartbeat) "
                        f"broker_cpu={r['broker_cpu_percent']}% rss={r['gateway_rss_mib']}MiB")
                    await asyncio.sleep(6)  # let a heartbeat flush pass between rates
                out["rates"] = rates
            finally:
                gw.stop()
                await pub.close()
        if args.skip_memory:
            return out
        with dedicated_broker() as port:  # fresh gateway, flush off: every device stays buffered
            gw = GatewayProcess(url, port, extra_env={"heartbeat_flush_seconds": "3600"})
            pub = RawMqtt("agbench-hb-mem")
            await pub.connect(port)
            await gw.start()
            try:
                packets = HeartbeatPackets(gw.topic_root, ids)
                out["gateway_rss_bytes_per_device"] = round(
                    await rss_per_device(gw, pub, packets, args.devices), 1)
            finally:
                gw.stop()
                await pub.close()
    out["buffer_bytes_per_device"] = {str(n): round(buffer_bytes_per_device(n), 1)
                                      for n in (100_000, 1_000_000)}
    say(f"heartbeats memory: gateway RSS {out['gateway_rss_bytes_per_device']} B/device "
        f"({args.devices} devices heard, unflushed); LastSeenBuffer "
        f"{out['buffer_bytes_per_device']} B/device (tracemalloc)")
    return out


def main() -> None:
    """Parse arguments, run, write bench/results/heartbeats-<db>.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--rates", default="5000,10000,20000,30000", help="heartbeats/s to try")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per rate")
    parser.add_argument("--env", action="append", default=[], metavar="SETTING=VALUE",
                        help="extra gateway setting, e.g. supervision_check_seconds=3600")
    parser.add_argument("--name", default="heartbeats", help="result file name prefix")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    write_results(args.name, args.db, asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
