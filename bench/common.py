"""Shared helpers: machine description, percentiles, result files, free ports."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
REPO = Path(__file__).resolve().parent.parent


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, Python version and git commit of this run."""
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {"cpu": model, "cores": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1),
            "python": platform.python_version(), "commit": commit, "kernel": platform.release(),
            "loadavg_at_start": list(os.getloadavg())}


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    """n, p50, p90, p99 and max of values in seconds, reported in milliseconds."""
    if not values:
        return {"n": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    s = sorted(values)

    def at(q: float) -> float:
        return round(s[min(len(s) - 1, int(q * len(s)))] * 1000, 2)

    return {"n": len(s), "p50_ms": at(0.50), "p90_ms": at(0.90), "p99_ms": at(0.99),
            "max_ms": round(s[-1] * 1000, 2)}


def write_results(name: str, db: str, data: dict[str, Any]) -> Path:
    """Write bench/results/<name>-<db>.json with the machine description."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{db}.json"
    body = {"benchmark": name, "db": db, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "argv": sys.argv[1:], "machine": machine(), **data}
    path.write_text(json.dumps(body, indent=2, default=str) + "\n")
    return path


def quiet_collector() -> None:
    """Call once set up: this process hosts the fake Twilio and the load, and its collector's
    full passes over their growing logs paused it for 140 ms, then up to 690 ms, in a sweep of
    10,000 (counted as the gateway's alarm latency when one fell on an alarm). The set-up is
    frozen and full passes are off for the run; young passes go on."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, 1_000_000)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def say(line: str) -> None:
    """One figure line on stdout, flushed."""
    print(line, flush=True)


async def poll_until(check: Callable[[], bool], limit: float, step: float = 0.01) -> bool:
    """Re-check `check` every `step` seconds for at most `limit` seconds; its last answer."""
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)
    return True
