"""Storm: N devices (default 10,000) each publish one alarm within one second. Time until every
alert is stored and until every first notification is requested; nothing lost or doubled; the
order of first sends by priority while the account send rate limits them."""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from alert_gateway.db.models import Alert, InboundMessage

from .alarm_latency import Feedback
from .broker import dedicated_broker
from .common import percentiles, poll_until, quiet_collector, say, write_results
from .db import attempt_facts, contact_phone, count, fresh_database, seed
from .faketwilio import FirstSends, doubled_requests, fake_twilio, first_sends, sends_per_number
from .gatewayproc import GatewayProcess, engine_wired, self_cpu_seconds
from .loadgen import alarm_packet
from .mqttraw import RawMqtt
from .probe import RoundTrip
from .sweepwatch import BOARD_GAP_SECONDS, BOARD_POLL_SECONDS, Watcher, add_supervisor


def kind_of(i: int, p3_every: int) -> str:
    """Every p3_every-th device raises a P3 (low battery), the rest a P1 (sos); interleaved."""
    return "low_battery" if p3_every and i % p3_every == p3_every - 1 else "sos"


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    """Seed, start everything, publish the storm, watch feedback, the fake and the tables."""
    n = args.devices
    severity = {contact_phone(i): ("P3" if kind_of(i, args.p3_every) == "low_battery" else "P1")
                for i in range(n)}
    engine = engine_wired()
    async with fresh_database(args.db) as url, fake_twilio() as (base, fake):
        await seed(url, [f"dev{i:06d}" for i in range(n)])
        if args.board_watchers:
            await add_supervisor(url)
        with dedicated_broker() as port:
            extra = {"send_rate_per_second": str(args.send_rate),
                     "send_concurrency": str(args.send_concurrency)}
            if args.ingest_batch_size:
                extra["ingest_batch_size"] = str(args.ingest_batch_size)
            if args.twilio_timeout:
                extra["twilio_timeout_seconds"] = str(args.twilio_timeout)
            gw = GatewayProcess(url, port, twilio_base=base, extra_env=extra)
            fb = Feedback()
            sub, pub = RawMqtt("agbench-fb", fb.on_publish), RawMqtt("agbench-pub")
            await sub.connect(port)
            await sub.subscribe(f"{gw.topic_root}/+/feedback", 0)
            await pub.connect(port)
            probe = RoundTrip()
            await probe.start(port)
            quiet_collector()
            await gw.start()
            cpu0, gcpu0 = self_cpu_seconds(), gw.cpu_seconds()
            boards = [Watcher(gw.url, "/console/board/rows", min_gap=args.board_gap,
                              poll=BOARD_POLL_SECONDS) for _ in range(args.board_watchers)]
            watched = asyncio.Event()
            watching = [asyncio.create_task(board.run(watched)) for board in boards]
            try:
                t0 = time.perf_counter()
                for k in range(0, n, 100):  # 100 alarms every 10 ms: all out within one second
                    due = t0 + k / n * args.window
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                    pub.write(b"".join(alarm_packet(pub, gw.topic_root, f"dev{i:06d}", f"st{i:06d}",
                                                    kind_of(i, args.p3_every))
                                       for i in range(k, min(n, k + 100))))
                    probe.publish(pub, k)  # one raw round trip per 100 alarms, in the same stream
                    await pub.drain()
                published_in = time.perf_counter() - t0
                await poll_until(lambda: len(fb.received) >= n, args.wait, 0.02)
                stored_at = max(fb.received.values(), default=t0) - t0
                stored = len(fb.received)
                cpu_stored = gw.cpu_seconds() - gcpu0  # read when seen: a poll (20 ms) late at most
                cpu_p1s = None
                p1_numbers = {p for p, s in severity.items() if s == "P1"}
                if engine:
                    polled = FirstSends(fake)
                    if await poll_until(lambda: len(p1_numbers - polled().keys()) == 0,
                                        args.wait, 0.1):
                        cpu_p1s = gw.cpu_seconds() - gcpu0
                    await asyncio.sleep(args.settle)
                gw_cpu = gw.cpu_seconds() - gcpu0
                elapsed = time.perf_counter() - t0
            finally:
                watched.set()
                await asyncio.gather(*watching, return_exceptions=True)
                gw.stop()
                await pub.close()
                await sub.close()
                await probe.close()
        alerts, inbound = await count(url, Alert), await count(url, InboundMessage)
        doubles = await _with_attempts(url, doubled_requests(fake, t0)) if engine else []
    firsts = sorted(first_sends(fake).items(), key=lambda kv: kv[1].at)
    out: dict[str, object] = {
        "devices": n, "p3_every": args.p3_every, "send_rate_per_second": args.send_rate,
        "ingest_batch_size": args.ingest_batch_size or "default",
        "twilio_timeout_seconds": args.twilio_timeout or "default",
        "board_watchers": args.board_watchers, "board_gap_s": args.board_gap,
        "board_reads": percentiles([t for board in boards for t in board.reads]),
        "published_within_s": round(published_in, 3), "stored_feedback": stored,
        "all_stored_s": round(stored_at, 3) if stored == n else None,
        "alert_rows": alerts, "inbound_rows": inbound,
        "lost": n - inbound, "doubled_alerts": max(0, alerts - n),
        "gateway_cpu_percent": round(100 * gw_cpu / elapsed, 1),
        "gateway_cpu_ms_per_alarm": round(1000 * gw_cpu / n, 2),  # whole run, engine included
        # the figures that hold still on a shared machine: CPU seconds spent until all were
        # stored, and until every P1 was first-notified (None: not within the wait)
        "gateway_cpu_s_until_stored": round(cpu_stored, 2),
        "gateway_cpu_s_until_p1s_notified": round(cpu_p1s, 2) if cpu_p1s is not None else None,
        "loadgen_cpu_percent": round(100 * (self_cpu_seconds() - cpu0) / elapsed, 1),
        "mqtt_round_trip": percentiles(probe.latencies(range(0, n, 100))),
        "mode": "first_notification" if engine else "stored_only (no escalation engine wired)",
        "gateway_log": str(gw.log_path),
    }
    if engine:
        out.update(_notification_figures(firsts, severity, sends_per_number(fake), t0))
        out["per_second"] = _per_second(fake.recorded, firsts, severity, t0)
        out["doubled_requests"] = doubles
        # the gateway's promise: one request per attempt (a redial or a later step is another)
        out["attempts_sent_twice"] = sum(1 for d in doubles for _ in _repeated_attempts(d))
    return out


def _notification_figures(firsts: list, severity: dict[str, str], per_number: dict[tuple[str, str], int],
                          t0: float) -> dict[str, object]:
    """When P1/P3 were first notified, priority inversions, and numbers sent to more than once."""
    order = [severity.get(to, "?") for to, _ in firsts]
    p1_times = [r.at - t0 for to, r in firsts if severity.get(to) == "P1"]
    p3_times = [r.at - t0 for to, r in firsts if severity.get(to) == "P3"]
    last_p1 = max(p1_times, default=None)
    inversions = sum(1 for t in p3_times if last_p1 is not None and t < last_p1)
    p1_total = sum(1 for s in severity.values() if s == "P1")
    return {
        "p1_total": p1_total, "p1_notified": len(p1_times),
        "all_p1_first_notified_s": (round(last_p1, 3) if last_p1 is not None and len(p1_times) == p1_total
                                    else None),
        "p3_notified": len(p3_times),
        "last_first_notification_s": round(max(r.at for _, r in firsts) - t0, 3) if firsts else None,
        "p3_sent_before_last_p1": inversions,
        "first_200_order": "".join("1" if s == "P1" else "3" for s in order[:200]),
        "numbers_sent_same_kind_twice": sum(1 for c in per_number.values() if c > 1),
        "unknown_numbers": sum(1 for to, _ in firsts if to not in severity),
    }


COLUMNS = ("p1_first", "p3_first", "calls", "sms", "posted")


def _per_second(recorded: list, firsts: list, severity: dict[str, str],
                t0: float) -> dict[str, list[int]]:
    """Second by second from the first alarm: P1 and P3 first sends, every create request the
    fake took (calls, SMS) and the callbacks and webhooks it posted to the gateway."""
    out: dict[str, list[int]] = {name: [] for name in COLUMNS}

    def count(name: str, t: float) -> None:
        second = max(0, int(t - t0))
        for column in out.values():
            column.extend([0] * (second + 1 - len(column)))
        out[name][second] += 1

    for to, r in firsts:
        count("p1_first" if severity.get(to) == "P1" else "p3_first", r.at)
    for r in recorded:
        if r.kind != "api":
            count("posted", r.at)
        elif r.method == "POST" and r.url.endswith("/Calls.json"):
            count("calls", r.at)
        elif r.method == "POST" and r.url.endswith("/Messages.json"):
            count("sms", r.at)
    return out


def main() -> None:
    """Parse arguments, run, print one line and write bench/results/storm-<db>.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=1.0, help="seconds to publish them in")
    parser.add_argument("--p3-every", type=int, default=4, help="every k-th alarm is P3 (0: none)")
    parser.add_argument("--send-rate", type=float, default=2500.0,
                        help="the gateway's account-wide send rate (settings.send_rate_per_second)")
    parser.add_argument("--send-concurrency", type=int, default=256,
                        help="settings.send_concurrency: requests in flight (a crash may repeat them)")
    parser.add_argument("--ingest-batch-size", type=int, default=0,
                        help="settings.ingest_batch_size: alarms per transaction (0: the default)")
    parser.add_argument("--twilio-timeout", type=float, default=0.0,
                        help="settings.twilio_timeout_seconds (0: the default); shorter makes "
                             "requests time out under load, as in a storm on a busy machine")
    parser.add_argument("--board-watchers", type=int, default=0,
                        help="operators watching the board, each re-reading its rows on changes")
    parser.add_argument("--board-gap", type=float, default=BOARD_GAP_SECONDS,
                        help="a watcher's least gap between re-reads (console.js: 1 s; 0: back "
                             "to back, as before it was throttled)")
    parser.add_argument("--wait", type=float, default=120.0, help="give up after this many s")
    parser.add_argument("--settle", type=float, default=2.0, help="watch for doubles after")
    args = parser.parse_args()
    out = asyncio.run(main_async(args))
    raw: dict[str, object] = out["mqtt_round_trip"]  # type: ignore[assignment]
    say(f"storm db={args.db} devices={out['devices']} published_in={out['published_within_s']}s "
        f"all_stored={out['all_stored_s']}s lost={out['lost']} doubled={out['doubled_alerts']} "
        f"all_P1_first_notified={out.get('all_p1_first_notified_s')}s "
        f"P3_before_last_P1={out.get('p3_sent_before_last_p1')} "
        f"same_kind_twice={out.get('numbers_sent_same_kind_twice')} "
        f"attempts_sent_twice={out.get('attempts_sent_twice')} "
        f"gateway_cpu={out['gateway_cpu_percent']}% ({out['mode']}) "
        f"cpu_s_until_stored={out['gateway_cpu_s_until_stored']} "
        f"cpu_s_until_P1s={out['gateway_cpu_s_until_p1s_notified']} | raw MQTT pub→sub same run: "
        f"p50={raw['p50_ms']}ms p99={raw['p99_ms']}ms")
    if args.board_watchers:
        reads: dict[str, object] = out["board_reads"]  # type: ignore[assignment]
        say(f"  {args.board_watchers} board(s) watching, gap {args.board_gap} s: {reads['n']} "
            f"re-reads, p50 {reads['p50_ms']} / p99 {reads['p99_ms']} ms")
    _say_doubles(out.get("doubled_requests") or [])  # type: ignore[arg-type]
    per_second: dict[str, list[int]] = out.get("per_second") or {}  # type: ignore[assignment]
    for name in COLUMNS if per_second else ():
        say(f"  per second {name:>8}: {' '.join(str(n) for n in per_second[name][:40])}")
    write_results("storm", args.db, out)


async def _with_attempts(url: str, doubles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each doubled request with its attempt's row: which step, round and dial made it."""
    ids = {int(r["attempt"]) for d in doubles for r in d["requests"] if r["attempt"]}
    facts = await attempt_facts(url, sorted(ids))
    for d in doubles:
        for r in d["requests"]:
            r.update(facts.get(int(r["attempt"] or 0), {}))
    return doubles


def _repeated_attempts(double: dict[str, Any]) -> list[str]:
    """Attempt ids of this number with more than one request Twilio may have taken (a 4xx/5xx
    answer was not taken: the quick retry of a refused request is not a double)."""
    seen: dict[str, int] = {}
    for r in double["requests"]:
        if r["attempt"] and (r["status"] is None or r["status"] < 400):
            seen[r["attempt"]] = seen.get(r["attempt"], 0) + 1
    return [a for a, n in seen.items() if n > 1]


def _say_doubles(doubles: list[dict]) -> None:
    """A few lines per number that got the same kind of request twice (all are in the JSON)."""
    for d in doubles[:10]:
        requests = "; ".join(f"attempt {r['attempt']} (step {r.get('step')} round {r.get('round')} "
                             f"dial {r.get('dial_no')}) at {r['at_s']}s answered {r['answered_s']}s "
                             f"HTTP {r['status']}" for r in d["requests"])
        say(f"  twice: {d['to']} {d['kind']}: {requests}; looked up at {d['lookups_at_s']}")
    if len(doubles) > 10:
        say(f"  ... and {len(doubles) - 10} more in the JSON")


if __name__ == "__main__":
    main()
