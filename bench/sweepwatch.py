"""A supervisor watching a console page during a bench, as the issues' stories have it: signed in
to the console, the page's event stream open, its live part re-read on every alert change (at
most once a `min_gap`, as console.js does: a second for the sweep page and the board) and every
`poll` seconds (the sweep page's 5 s while it runs; the board's 30 s safety net)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from datetime import UTC, datetime

import aiohttp
from sqlmodel.ext.asyncio.session import AsyncSession

from alert_gateway.console.passwords import hash_password
from alert_gateway.db.auth import Operator, Role
from alert_gateway.db.engine import make_engine

NAME, PASSWORD = "bench-supervisor", "bench-supervisor-password"
POLL_SECONDS = 5.0  # console.js sweepView's poll while the sweep runs
MIN_GAP_SECONDS = 1.0  # console.js sweepView's throttle
BOARD_GAP_SECONDS = 1.0  # console.js board's throttle (BOARD_GAP_MS)
BOARD_POLL_SECONDS = 30.0  # console.js board's safety net
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def add_supervisor(url: str) -> None:
    """The supervisor's account, stored before the gateway starts."""
    engine = make_engine(url)
    try:
        async with AsyncSession(engine) as session:
            session.add(Operator(name=NAME, role=Role.SUPERVISOR.value,
                                 password_hash=hash_password(PASSWORD),
                                 created_at=datetime.now(UTC)))
            await session.commit()
    finally:
        await engine.dispose()


class Watcher:
    """One open page re-reading `path` (a sweep page's `/console/sweeps/{id}/live`, the board's
    `/console/board/rows`); `reads` holds each re-read's time in seconds."""

    def __init__(self, base: str, path: str, *, min_gap: float = MIN_GAP_SECONDS,
                 poll: float = POLL_SECONDS) -> None:
        self.base, self.path, self.min_gap, self.poll = base, path, min_gap, poll
        self.reads: list[float] = []
        self._changed = asyncio.Event()

    async def run(self, until: asyncio.Event) -> None:
        """Sign in, then re-read on changes and every 5 s until `until` is set."""
        # a cookie jar that keeps cookies from an IP address (the gateway on 127.0.0.1)
        async with aiohttp.ClientSession(self.base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await self._sign_in(http)
            side = [asyncio.create_task(self._listen(http)), asyncio.create_task(self._end(until))]
            try:
                while not until.is_set():
                    self._changed.clear()  # a change during the read: one more read after it
                    began = time.perf_counter()
                    await self._read(http)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.poll):
                            await self._changed.wait()
                    # console.js re-reads on changes at most once a `min_gap`
                    await asyncio.sleep(max(0.0, began + self.min_gap - time.perf_counter()))
            finally:
                for task in side:
                    task.cancel()
                await asyncio.gather(*side, return_exceptions=True)

    async def _end(self, until: asyncio.Event) -> None:
        await until.wait()
        self._changed.set()

    async def _sign_in(self, http: aiohttp.ClientSession) -> None:
        async with http.get("/console/login") as page:
            match = _CSRF.search(await page.text())
        assert match, "no CSRF token on the sign-in page"
        async with http.post("/console/login", allow_redirects=False, data={
                "name": NAME, "password": PASSWORD, "csrf_token": match[1]}) as signed:
            if signed.status != 303:
                raise RuntimeError(f"sign-in: {signed.status} {await signed.text()}")

    async def _listen(self, http: aiohttp.ClientSession) -> None:
        opening = True  # the stream's first "refresh" is served by the opening read (console.js)
        async with http.get("/console/events", timeout=aiohttp.ClientTimeout()) as events:
            async for line in events.content:
                if line.startswith(b"event: refresh") and opening:
                    opening = False
                elif line.startswith((b"event: alert", b"event: refresh")):
                    self._changed.set()

    async def _read(self, http: aiohttp.ClientSession) -> None:
        started = time.perf_counter()
        async with http.get(self.path, headers={"X-Fragment": "1"}) as live:
            await live.read()
            if live.status != 200:
                raise RuntimeError(f"{self.path}: {live.status}")
        self.reads.append(time.perf_counter() - started)
