"""Print the latest results in bench/results/*.json as Markdown, for bench/README.md."""

from __future__ import annotations

import json
from typing import Any

from .common import RESULTS


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def main() -> None:
    """One section per benchmark and database."""
    for db in ("sqlite", "postgres"):
        print(f"\n### {db}\n")
        if (a := _load(f"alarm_latency-{db}")) is not None:
            print(f"alarm latency ({a['mode']}, {a['duration_s']} s per rate, {a['at']}, "
                  f"load avg at start {a['machine']['loadavg_at_start'][0]:.1f}):\n")
            print("| alarms/s | achieved | n | missing | p50 ms | p90 ms | p99 ms | max ms | gw CPU % "
                  "| gw CPU ms/alarm | raw MQTT p50 / p99 ms |")
            print("|---|---|---|---|---|---|---|---|---|---|---|")
            for r in a["results"]:
                raw = r.get("mqtt_round_trip") or {}
                print(f"| {r['rate']} | {r['achieved_rate']} | {r['n']} | {r['missing']} | "
                      f"{r['p50_ms']} | {r['p90_ms']} | {r['p99_ms']} | {r['max_ms']} | "
                      f"{r['gateway_cpu_percent']} | {r.get('gateway_cpu_ms_per_alarm', '')} | "
                      f"{raw.get('p50_ms', '–')} / {raw.get('p99_ms', '–')} |")
        for name in ("storm", "restart"):
            if (s := _load(f"{name}-{db}")) is not None:
                keep = {k: v for k, v in s.items() if k not in ("machine", "argv", "benchmark")}
                print(f"\n{name}: `{json.dumps(keep)}`")
        for name in (f"heartbeats-{db}", f"heartbeats-quiet-{db}", f"heartbeats-1m-{db}"):
            if (h := _load(name)) is not None:
                _heartbeats(h)


def _heartbeats(h: dict[str, Any]) -> None:
    load = h["machine"]["loadavg_at_start"][0]
    print(f"\nheartbeats ({h['devices']:,} devices, QoS 1, {h['duration_s']} s per rate, {h['at']}, "
          f"commit {h['machine']['commit']}, 1-min load avg {load:.1f} when written):\n")
    if h.get("rates"):
        print("| target/s | published/s | gateway/s | lag at end | behind | gw CPU % | gw µs/heartbeat "
              "| broker CPU % | RSS MiB | load after |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in h["rates"]:
            print(f"| {r['target_rate']} | {r['published_rate']} | {r['gateway_rate']} | "
                  f"{r['lag_end']} | {r['falling_behind']} | {r['gateway_cpu_percent']} | "
                  f"{r.get('gateway_cpu_us_per_heartbeat', '')} | {r.get('broker_cpu_percent', '')} | "
                  f"{r['gateway_rss_mib']} | {r.get('loadavg_1min_after', '')} |")
    if "gateway_rss_bytes_per_device" in h:
        print(f"\nmemory: gateway RSS {h['gateway_rss_bytes_per_device']} B per device heard "
              f"({h['devices']:,} devices, none flushed yet); LastSeenBuffer "
              f"{h.get('buffer_bytes_per_device')} B per device (tracemalloc)")


if __name__ == "__main__":
    main()
