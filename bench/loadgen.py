"""The load generator: paced QoS 1 alarm and heartbeat publishers on raw MQTT, and its ceiling.

`python -m bench.loadgen` measures the ceiling: publish rate with no gateway attached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from .broker import dedicated_broker
from .common import poll_until, say, write_results
from .gatewayproc import self_cpu_seconds
from .mqttraw import RawMqtt, publish_prefix

TICK = 0.005


def iso_now() -> str:
    """Device time with a fixed width (so heartbeat packets have a fixed length)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def alarm_packet(client: RawMqtt, root: str, device_id: str, msg_id: str, kind: str) -> bytes:
    """A QoS 1 PUBLISH of one alarm."""
    body = json.dumps({"id": msg_id, "type": kind, "ts": iso_now()}).encode()
    return publish_prefix(f"{root}/{device_id}/alarm", len(body), 1) + client.next_pid() + body


class HeartbeatPackets:
    """Pre-built topic prefixes for many devices; each call returns n packets, devices in turn."""

    def __init__(self, root: str, device_ids: Sequence[str]) -> None:
        self._len = len(self._payload())
        self._prefixes = [publish_prefix(f"{root}/{d}/heartbeat", self._len, 1) for d in device_ids]
        self._next = 0

    @staticmethod
    def _payload() -> bytes:
        return b'{"ts":"' + iso_now().encode() + b'","battery":90}'

    def build(self, client: RawMqtt, n: int) -> bytes:
        """n heartbeat packets in one buffer."""
        payload, prefixes, count = self._payload(), self._prefixes, len(self._prefixes)
        parts = []
        for _ in range(n):
            parts.append(prefixes[self._next])
            parts.append(client.next_pid())
            parts.append(payload)
            self._next = (self._next + 1) % count
        return b"".join(parts)


async def paced(rate: float, duration: float, send: Callable[[int], None],
                drain: Callable[[], object]) -> tuple[int, float]:
    """Call send(n) every tick so that rate*elapsed messages are out; returns (sent, seconds)."""
    start = time.perf_counter()
    sent = 0
    total = int(rate * duration)
    while sent < total:
        now = time.perf_counter()
        due = min(total, int(rate * (now - start)) + 1)
        if due > sent:
            send(due - sent)
            sent = due
            await drain()  # type: ignore[misc]
        await asyncio.sleep(max(0.0, TICK - (time.perf_counter() - now)))
    return sent, time.perf_counter() - start


async def ceiling(port: int, seconds: float, devices: int = 100_000) -> dict[str, float]:
    """Unpaced heartbeats into a broker with no subscriber: the generator's own limit."""
    client = RawMqtt("agbench-ceiling")
    await client.connect(port)
    packets = HeartbeatPackets("agbench-ceiling/v1/devices", [f"hb{i:06d}" for i in range(devices)])
    cpu0, start, sent = self_cpu_seconds(), time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        client.write(packets.build(client, 2000))
        sent += 2000
        await client.drain()
        await asyncio.sleep(0)
    elapsed = time.perf_counter() - start
    await poll_until(lambda: client.pubacks >= sent, 10)
    total = time.perf_counter() - start
    cpu = self_cpu_seconds() - cpu0
    await client.close()
    return {"written_per_s": round(sent / elapsed), "acked_per_s": round(client.pubacks / total),
            "generator_cpu_percent": round(100 * cpu / total, 1)}


def main() -> None:
    """Measure and print the load generator's ceiling."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    async def run() -> dict[str, float]:
        with dedicated_broker() as port:
            return await ceiling(port, args.seconds)

    result = asyncio.run(run())
    say(f"loadgen ceiling (QoS 1 heartbeats, no gateway): {result['acked_per_s']} msg/s acked "
        f"by the broker, {result['written_per_s']} msg/s written, "
        f"generator CPU {result['generator_cpu_percent']} %")
    write_results("loadgen", "none", {"ceiling": result})


if __name__ == "__main__":
    main()
