"""The MQTT client's own ceiling: how many QoS 1 messages/s a bare subscriber takes, no gateway code.

N heartbeats are queued in Mosquitto for an offline persistent session, then a subscriber child
connects and drains them (no publisher competing for the 2 cores). Reported per client flavour:
messages/s over the drain, timed from before connecting (queued messages are parsed while
connect and subscribe still wait), and CPU microseconds per message (1e6 / that = one core).
With `--live-rate R` the subscriber instead takes a paced publisher's R msg/s, as in the
heartbeat bench (the broker then works for both).

* `aiomqtt-v5` / `aiomqtt-v311`: aiomqtt like the gateway's connection (manual ack, ack each
  message in the `async for`), MQTT v5 or 3.1.1.
* `buffered-v5` / `buffered-v311`: the same with the gateway's read buffer and lean v5
  properties, the rest of a burst taken without a task per message
  (ingest/pahotune.py). The gateway itself now takes heartbeats at QoS 0 (no PUBACK); they are
  QoS 1 here so that the broker queues them for the drain, and each is acked as above.
* `paho-v5` / `paho-v311`: paho's own loop (`loop_forever`, auto-ack in `on_message`), no asyncio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from alert_gateway.ingest.pahotune import take_queued, tune

from .broker import dedicated_broker
from .common import REPO, poll_until, say, write_results
from .loadgen import HeartbeatPackets, paced
from .mqttraw import RawMqtt

ROOT = "agbench-ceiling/v1/devices"
MODES = ("aiomqtt-v5", "aiomqtt-v311", "buffered-v5", "buffered-v311", "paho-v5", "paho-v311")


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _connect_props() -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 65535
    return props


async def _aiomqtt_sub(port: int, v5: bool, expect: int, ident: str,
                       buffered: bool) -> dict[str, float]:
    client = aiomqtt.Client(
        "127.0.0.1", port, identifier=ident, keepalive=30, max_inflight_messages=1000,
        protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
        clean_start=False if v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
        clean_session=None if v5 else False, properties=_connect_props() if v5 else None)
    client._client.manual_ack_set(True)
    if buffered:
        tune(client)
    # from before connecting: queued messages are parsed while connect/subscribe still await
    n, cpu0, first = 0, _cpu(), time.perf_counter()
    async with client:
        await client.subscribe(f"{ROOT}/#", qos=1)
        print("ready", flush=True)
        async for m in client.messages:
            for one in (m, *take_queued(client)) if buffered else (m,):
                if one.qos:
                    client._client.ack(one.mid, one.qos)
                n += 1
            if n >= expect:
                break
    return {"received": n, "seconds": time.perf_counter() - first, "cpu_s": _cpu() - cpu0}


def _paho_sub(port: int, v5: bool, expect: int, ident: str) -> dict[str, float]:
    proto = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=ident, protocol=proto,
                         clean_session=None if v5 else False)
    box = {"n": 0, "first": time.perf_counter(), "cpu0": _cpu()}  # from before connecting

    def on_connect(c: mqtt.Client, *_: object) -> None:
        c.subscribe(f"{ROOT}/#", qos=1)

    def on_subscribe(*_: object) -> None:
        print("ready", flush=True)

    def on_message(c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        box["n"] += 1
        if box["n"] >= expect:
            c.disconnect()

    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    if v5:
        client.connect("127.0.0.1", port, 30, clean_start=False, properties=_connect_props())
    else:
        client.connect("127.0.0.1", port, 30)
    client.loop_forever()
    return {"received": box["n"], "seconds": time.perf_counter() - box["first"],
            "cpu_s": _cpu() - box["cpu0"]}


def subscriber(mode: str, port: int, expect: int, ident: str) -> None:
    """Child: connect (prints `ready` once subscribed), drain `expect` messages, print JSON."""
    v5 = mode.endswith("v5")
    if not mode.startswith("paho"):
        out = asyncio.run(_aiomqtt_sub(port, v5, expect, ident, mode.startswith("buffered")))
    else:
        out = _paho_sub(port, v5, expect, ident)
    print(json.dumps(out), flush=True)


def _spawn(mode: str, port: int, expect: int, ident: str, *, ready: bool) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "bench.mqtt_ceiling", "--role", "sub", "--mode", mode,
            "--port", str(port), "--expect", str(expect), "--ident", ident]
    profile = os.environ.get("BENCH_PYSPY")
    if profile and not ready:  # the drain only: raw collapsed stacks, one file per mode
        spy = str(REPO / ".venv" / "bin" / "py-spy")
        argv = [spy, "record", "--rate", "250", "--format", "raw", "-o", f"{profile}.{mode}",
                "--", *argv]
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if not ready:  # queued messages may arrive before the SUBACK: no `ready` line to wait for
        return proc
    line = proc.stdout.readline().strip()
    if line != "ready":
        proc.kill()
        raise RuntimeError(f"subscriber did not start: {line!r}")
    return proc


async def one_mode(mode: str, port: int, count: int) -> dict[str, float | str]:
    """Subscribe once (session kept), go away, queue `count` messages, drain them."""
    ident = f"agbench-ceil-{mode}"
    first = _spawn(mode, port, 1, ident, ready=True)  # creates the persistent session and leaves
    pub = RawMqtt(f"agbench-ceil-pub-{mode}")
    await pub.connect(port)
    pub.write(HeartbeatPackets(ROOT, ["hbwarm"]).build(pub, 1))
    await pub.drain()
    first.communicate(timeout=30)
    packets = HeartbeatPackets(ROOT, [f"hb{i:06d}" for i in range(100_000)])
    for start in range(0, count, 5000):
        pub.write(packets.build(pub, min(5000, count - start)))
        await pub.drain()
    await poll_until(lambda: pub.pubacks >= count + 1, 60, 0.05)  # all queued in the broker
    await pub.close()
    proc = _spawn(mode, port, count, ident, ready=False)
    stdout, _ = proc.communicate(timeout=300)
    r = json.loads(stdout.strip().splitlines()[-1])
    return {"mode": mode, "received": r["received"],
            "msgs_per_s": round(r["received"] / r["seconds"]),
            "cpu_us_per_msg": round(1e6 * r["cpu_s"] / r["received"], 1),
            "cpu_percent": round(100 * r["cpu_s"] / r["seconds"], 1)}


async def live_mode(mode: str, port: int, rate: int, seconds: float) -> dict[str, float | str]:
    """The subscriber while a paced publisher runs (the broker works for both, as in the bench)."""
    count = int(rate * seconds)
    proc = _spawn(mode, port, count, f"agbench-ceil-live-{mode}", ready=True)
    pub = RawMqtt(f"agbench-ceil-livepub-{mode}")
    await pub.connect(port)
    packets = HeartbeatPackets(ROOT, [f"hb{i:06d}" for i in range(100_000)])

    def send(n: int) -> None:
        pub.write(packets.build(pub, n))

    await paced(rate, seconds, send, pub.drain)
    await pub.close()
    stdout, _ = await asyncio.to_thread(proc.communicate, timeout=300)
    r = json.loads(stdout.strip().splitlines()[-1])
    return {"mode": f"{mode}@{rate}/s", "received": r["received"],
            "msgs_per_s": round(r["received"] / r["seconds"]),
            "cpu_us_per_msg": round(1e6 * r["cpu_s"] / r["received"], 1),
            "cpu_percent": round(100 * r["cpu_s"] / r["seconds"], 1)}


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    """Each mode on its own broker."""
    results = []
    for mode in args.modes.split(","):
        with dedicated_broker() as port:
            if args.live_rate:
                r = await live_mode(mode, port, args.live_rate, args.seconds)
            else:
                r = await one_mode(mode, port, args.count)
        say(f"mqtt ceiling {mode}: {r['msgs_per_s']} msg/s, {r['cpu_us_per_msg']} µs CPU per "
            f"message ({r['cpu_percent']} % of a core)")
        results.append(r)
    return {"count": args.count, "qos": 1, "results": results}


def main() -> None:
    """Parse arguments; as a parent write bench/results/mqtt_ceiling-none.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--role", choices=["parent", "sub"], default="parent")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--mode", choices=MODES, default="aiomqtt-v5")
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--live-rate", type=int, default=0,
                        help="instead of draining a queue, publish at this rate meanwhile")
    parser.add_argument("--seconds", type=float, default=10.0, help="with --live-rate")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--expect", type=int, default=1)
    parser.add_argument("--ident", default="agbench-ceil")
    args = parser.parse_args()
    if args.role == "sub":
        subscriber(args.mode, args.port, args.expect, args.ident)
        return
    name = "mqtt_ceiling_live" if args.live_rate else "mqtt_ceiling"
    write_results(name, "none", asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
