"""The project's fake Twilio, served from the benchmark process on a free port."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from alert_gateway.twilio.fake_server import fake_of, make_fake_twilio_app
from alert_gateway.twilio.fake_state import FakeTwilio, Recorded

from .common import free_port
from .gatewayproc import ACCOUNT_SID, AUTH_TOKEN


@asynccontextmanager
async def fake_twilio(webhook_base: str | None = None) -> AsyncIterator[tuple[str, FakeTwilio]]:
    """Yield (base URL, state); every API request is in state.recorded with a perf_counter time."""
    app = make_fake_twilio_app(auth_token=AUTH_TOKEN, account_sid=ACCOUNT_SID,
                               webhook_base=webhook_base)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()  # a storm opens hundreds at once
    try:
        yield f"http://127.0.0.1:{port}", fake_of(app)
    finally:
        await runner.cleanup()


def first_sends(fake: FakeTwilio) -> dict[str, Recorded]:
    """The first Messages or Calls request per destination number."""
    return FirstSends(fake)()


class FirstSends:
    """`first_sends`, kept up to date by reading only the requests recorded since the last call.

    Benchmarks poll it while the fake serves the gateway from the same event loop: rescanning
    every recorded request per poll blocked that loop for seconds at 100 alarms/s (the gateway's
    requests then timed out).
    """

    def __init__(self, fake: FakeTwilio) -> None:
        self.fake = fake
        self.seen = 0
        self.by_number: dict[str, Recorded] = {}

    def __call__(self) -> dict[str, Recorded]:
        """The first request per number so far."""
        recorded = self.fake.recorded
        for r in recorded[self.seen:]:
            if r.kind == "api" and r.method == "POST" and ("/Messages" in r.url or "/Calls" in r.url):
                self.by_number.setdefault((r.params.get("To") or [""])[0], r)
        self.seen = len(recorded)
        return self.by_number


def sends_per_number(fake: FakeTwilio) -> dict[tuple[str, str], int]:
    """How many requests each (number, Messages|Calls) got: a double is a count above one."""
    out: dict[tuple[str, str], int] = {}
    for r in fake.recorded:
        if r.kind == "api" and r.method == "POST" and ("/Messages" in r.url or "/Calls" in r.url):
            key = ((r.params.get("To") or [""])[0], "Calls" if "/Calls" in r.url else "Messages")
            out[key] = out.get(key, 0) + 1
    return out


def attempts_sent_twice(fake: FakeTwilio) -> int:
    """Outbox attempts whose create request reached Twilio more than once (a real double: a
    re-dial or a later step to the same number is another attempt, counted by sends_per_number)."""
    per_attempt = Counter(_attempt_of(r) for r in fake.recorded
                          if r.kind == "api" and r.method == "POST"
                          and (r.url.endswith("/Messages.json") or r.url.endswith("/Calls.json")))
    return sum(1 for attempt, count in per_attempt.items() if attempt is not None and count > 1)


def _attempt_of(r: Recorded) -> str | None:
    """The attempt id our callback URL names (the gateway puts `?attempt=N` on each)."""
    url = (r.params.get("StatusCallback") or [""])[0]
    return parse_qs(urlsplit(url).query).get("attempt", [None])[0]


def doubled_requests(fake: FakeTwilio, t0: float) -> list[dict[str, object]]:
    """Each (number, Messages|Calls) that got more than one create request: each request's
    arrival and answer time (seconds from t0), HTTP status and attempt id, and when the gateway
    listed that number's messages or calls (its lookup before sending again)."""
    creates: dict[tuple[str, str], list[Recorded]] = {}
    lookups: dict[tuple[str, str], list[Recorded]] = {}
    for r in fake.recorded:
        if r.kind != "api":
            continue
        kind = "Calls" if "/Calls" in r.url else "Messages" if "/Messages" in r.url else None
        to = (r.params.get("To") or [""])[0]
        if kind is None or not to:
            continue
        if r.method == "POST" and r.url.split("?")[0].endswith(f"/{kind}.json"):
            creates.setdefault((to, kind), []).append(r)
        elif r.method == "GET":
            lookups.setdefault((to, kind), []).append(r)

    def s(t: float | None) -> float | None:
        return None if t is None else round(t - t0, 3)

    return [{"to": to, "kind": kind,
             "requests": [{"at_s": s(r.at), "answered_s": s(r.answered_at), "status": r.status,
                           "attempt": _attempt_of(r)} for r in rs],
             "lookups_at_s": [s(r.at) for r in lookups.get((to, kind), [])]}
            for (to, kind), rs in creates.items() if len(rs) > 1]
