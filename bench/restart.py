"""Restart: 1,000 open alerts mid-escalation (sends paced by the account rate), SIGKILL the
gateway, start it again: time from the restart until the fake Twilio receives requests again."""

from __future__ import annotations

import argparse
import asyncio
import time

from alert_gateway.twilio.fake_state import FakeTwilio

from .broker import dedicated_broker
from .common import poll_until, say, write_results
from .db import contact_phone, fresh_database, seed
from .faketwilio import FirstSends, fake_twilio, sends_per_number
from .gatewayproc import GatewayProcess, engine_wired
from .loadgen import alarm_packet
from .mqttraw import RawMqtt


def api_count(fake: FakeTwilio) -> int:
    """Messages/Calls requests so far."""
    return sum(1 for r in fake.recorded
               if r.kind == "api" and ("/Messages" in r.url or "/Calls" in r.url))


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    """Storm of alerts at a low send rate, kill mid-way, restart, time the first send after."""
    if not engine_wired():
        return {"skipped": "no escalation engine wired into Gateway.task_factories"}
    n = args.alerts
    numbers = {contact_phone(i) for i in range(n)}
    async with fresh_database(args.db) as url, fake_twilio() as (base, fake):
        first_sends = FirstSends(fake)
        await seed(url, [f"dev{i:06d}" for i in range(n)])
        with dedicated_broker() as port:
            gw = GatewayProcess(url, port, twilio_base=base,
                                extra_env={"send_rate_per_second": str(args.send_rate)})
            pub = RawMqtt("agbench-pub")
            await pub.connect(port)
            await gw.start()
            pub.write(b"".join(alarm_packet(pub, gw.topic_root, f"dev{i:06d}", f"rs{i:06d}", "sos")
                               for i in range(n)))
            await pub.drain()
            await poll_until(lambda: len(first_sends()) >= args.kill_after, 120, 0.02)
            gw.kill()
            killed_at = time.perf_counter()
            before = api_count(fake)
            notified_before = len(first_sends())
            await asyncio.sleep(args.down)
            gw2 = GatewayProcess(url, port, twilio_base=base, topic_root=gw.topic_root,
                                 client_id=gw.client_id, http_port=gw.http_port,
                                 extra_env={"send_rate_per_second": str(args.send_rate)})
            t0 = time.perf_counter()
            gw2.spawn()
            try:
                await gw2.wait_ready(60)
                ready = time.perf_counter() - t0
                await poll_until(lambda: api_count(fake) > before, 60, 0.005)
                resumed = [r.at for r in fake.recorded if r.kind == "api" and r.at > killed_at]
                first_after = min(resumed) - t0 if resumed else None
                await poll_until(lambda: numbers <= set(first_sends()), args.wait, 0.1)
                all_done = time.perf_counter() - t0
            finally:
                gw2.stop()
                await pub.close()
    doubles = sum(1 for (to, _), c in sends_per_number(fake).items() if to in numbers and c > 1)
    return {"alerts": n, "send_rate_per_second": args.send_rate,
            "notified_before_kill": notified_before, "down_s": args.down,
            "ready_after_restart_s": round(ready, 3),
            "sending_again_after_restart_s": round(first_after, 3) if first_after else None,
            "all_first_notified_after_restart_s": round(all_done, 3)
            if numbers <= set(first_sends()) else None,
            "notified_total": len(numbers & set(first_sends())),
            "numbers_sent_same_kind_twice": doubles}


def main() -> None:
    """Parse arguments, run, print a line and write bench/results/restart-<db>.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--send-rate", type=float, default=50.0, help="settings.send_rate_per_second")
    parser.add_argument("--kill-after", type=int, default=100, help="first sends seen before SIGKILL")
    parser.add_argument("--down", type=float, default=1.0, help="seconds the gateway stays dead")
    parser.add_argument("--wait", type=float, default=120.0)
    args = parser.parse_args()
    out = asyncio.run(main_async(args))
    say(f"restart db={args.db} {out}")
    write_results("restart", args.db, out)


if __name__ == "__main__":
    main()
