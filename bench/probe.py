"""The raw MQTT pub→sub round trip through the same broker, in the same run as the gateway's
figures: one probe message published beside each alarm and read back by a bare subscriber, so
the gateway's latency can be read against what the broker and loopback alone cost."""

from __future__ import annotations

import time

from .mqttraw import RawMqtt, publish_prefix

PROBE_TOPIC = "agbench-probe"


class RoundTrip:
    """Probe publish and arrival times by sequence number."""

    def __init__(self) -> None:
        self.sent: dict[int, float] = {}
        self.arrived: dict[int, float] = {}
        self.subscriber = RawMqtt("agbench-probe-sub", self._on_publish)

    async def start(self, port: int) -> None:
        """Connect the bare subscriber (QoS 1, like the gateway's alarm subscription)."""
        await self.subscriber.connect(port)
        await self.subscriber.subscribe(f"{PROBE_TOPIC}/#", 1)

    def publish(self, pub: RawMqtt, seq: int) -> None:
        """Queue one QoS 1 probe on `pub`, the connection that carries the alarms."""
        body = str(seq).encode()
        pub.write(publish_prefix(f"{PROBE_TOPIC}/{seq % 100}", len(body), 1) + pub.next_pid() + body)
        self.sent[seq] = time.perf_counter()

    def latencies(self, seqs: range) -> list[float]:
        """Round trips of the probes in `seqs` that arrived."""
        return [self.arrived[s] - self.sent[s] for s in seqs if s in self.arrived and s in self.sent]

    async def close(self) -> None:
        """Disconnect the subscriber."""
        await self.subscriber.close()

    def _on_publish(self, topic: str, payload: bytes, at: float) -> None:
        self.arrived.setdefault(int(payload), at)
