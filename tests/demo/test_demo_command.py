"""`alert-gateway demo` as a newcomer runs it: a real process, its printed URLs, its first alert, Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from alert_gateway.demo.broker import LOCAL_URL, free_port, reachable

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 60.0  # first start migrates a fresh SQLite file; usually a few seconds
FIRST_ALERT_SECONDS = 30.0
STOP_SECONDS = 30.0
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Demo:
    """A running demo process and what it printed."""

    proc: asyncio.subprocess.Process
    data_dir: Path
    lines: list[str] = field(default_factory=list)

    async def line_containing(self, text: str, within: float) -> str:
        """Read stdout until a line contains `text` (bounded); fails if the process ends first."""
        for line in self.lines:
            if text in line:
                return line
        assert self.proc.stdout is not None
        async with asyncio.timeout(within):
            while True:
                raw = await self.proc.stdout.readline()
                assert raw, f"demo exited before printing {text!r}: {self.lines}"
                self.lines.append(raw.decode().rstrip())
                if text in self.lines[-1]:
                    return self.lines[-1]

    def line_containing_now(self, text: str) -> str:
        """A line already printed that contains `text`."""
        return next(line for line in self.lines if text in line)

    def value_of(self, label: str) -> str:
        """The first word after `label:` in the start-up lines."""
        line = next(line for line in self.lines if line.strip().startswith(f"{label}:"))
        return line.split(":", 1)[1].split()[0]


@asynccontextmanager
async def demo_process(tmp_path: Path, *extra: str, port_from_env: bool = False,
                       ) -> AsyncIterator[Demo]:
    """Start `python -m alert_gateway demo` on free ports; always killed at the end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERT_GATEWAY_")}
    data_dir = tmp_path / "demo"
    port = ["--port", str(free_port())]
    if port_from_env:
        env["ALERT_GATEWAY_HTTP_PORT"], port = port[1], []
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "alert_gateway", "demo", "--data-dir", str(data_dir),
        *port, "--twilio-port", str(free_port()), *extra,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    stderr = asyncio.create_task(proc.stderr.read())  # drained so the pipe never fills
    try:
        yield Demo(proc, data_dir)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        print((await stderr).decode(errors="replace")[-4000:], file=sys.stderr)


def alert_count(db: Path) -> int:
    """Alerts stored in the demo's SQLite file (read-only)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM alert").fetchone()[0])


def wellbeing_calls_placed(db: Path) -> int:
    """Wellbeing calls the demo queued (read-only): the first resident's rings at start."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute(
            "SELECT count(*) FROM notificationattempt WHERE purpose = 'wellbeing'").fetchone()[0])


async def sign_in(http: aiohttp.ClientSession, console: str, name: str, password: str) -> int:
    """Sign in through the console's form; the status of the POST."""
    async with http.get(f"{console}login") as page:
        token = _CSRF.search(await page.text())
    assert token, "no CSRF token on the sign-in page"
    form = {"name": name, "password": password, "csrf_token": token[1]}
    async with http.post(f"{console}login", data=form, allow_redirects=False) as response:
        return response.status


async def check_demo(demo: Demo) -> None:
    """URLs printed, console, health and phones page served, an alert within 30 s, the wellbeing
    call queued, clean SIGINT."""
    await demo.line_containing("Ctrl-C to stop", START_SECONDS)
    console, phones = demo.value_of("console"), demo.value_of("phones page")
    name, _slash, password = demo.line_containing_now("sign in as:").split(":", 1)[1].split()[:3]
    assert console.endswith("/console/") and name == "demo"
    base = console.removesuffix("/console/")
    jar = aiohttp.CookieJar(unsafe=True)  # the console is on 127.0.0.1: an IP, not a domain
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10), cookie_jar=jar) as http:
        async with http.get(f"{base}/healthz") as health:
            assert health.status == 200
        async with http.get(phones) as page:
            assert page.status == 200
        async with http.get(f"{phones}line/_fake/line/chats") as chats:  # the fake LINE beside it
            accounts = await chats.json()
        assert accounts and all(a["following"] for a in accounts), accounts
        assert await sign_in(http, console, name, password) == 303
        async with http.get(console) as board:
            assert board.status == 200 and "/console/login" not in str(board.url)

    line = await demo.line_containing("alert #", FIRST_ALERT_SECONDS)
    assert "/console/alerts/" in line
    assert alert_count(demo.data_dir / "alert-gateway.db") >= 1
    assert "press 1 (fine) or 9 (help)" in demo.line_containing_now("wellbeing call:")
    assert wellbeing_calls_placed(demo.data_dir / "alert-gateway.db") >= 1

    demo.proc.send_signal(signal.SIGINT)
    async with asyncio.timeout(STOP_SECONDS):
        assert await demo.proc.wait() == 0
    assert demo.proc.stdout is not None
    demo.lines += (await demo.proc.stdout.read()).decode().splitlines()
    assert demo.lines[-1] == "demo stopped"


async def test_the_demo_runs_on_its_embedded_broker(tmp_path: Path) -> None:
    """With the embedded amqtt broker, the demo serves the console and shows an alert in 30 s."""
    async with demo_process(tmp_path, "--embedded-broker") as demo:
        await check_demo(demo)
        assert "embedded amqtt broker" in demo.line_containing_now("broker:")


async def test_the_demo_uses_the_local_mosquitto(tmp_path: Path) -> None:
    """When Mosquitto answers on 127.0.0.1:1883 the demo uses it; a shipped scenario plays."""
    assert await reachable(LOCAL_URL), "Mosquitto must run at 127.0.0.1:1883 (scripts/test.sh)"
    async with demo_process(tmp_path, "--scenario", "pendant-at-3am") as demo:
        await check_demo(demo)
        assert f"MQTT broker at {LOCAL_URL}" in "\n".join(demo.lines)


async def test_a_second_run_picks_up_the_same_data(tmp_path: Path) -> None:
    """Running it again (on ALERT_GATEWAY_HTTP_PORT this time) imports nothing new and prints the
    same demo password, topic root and API token; the token reads the API."""
    runs = []
    for again in (False, True):
        async with demo_process(tmp_path, "--embedded-broker", "--scenario", "random",
                                port_from_env=again) as demo:
            await demo.line_containing("Ctrl-C to stop", START_SECONDS)
            runs.append(list(demo.lines))
            if again:
                base = demo.value_of("console").removesuffix("/console/")
                token = demo.value_of("API token")
                async with aiohttp.ClientSession() as http, http.get(
                        f"{base}/api/v1/alerts",
                        headers={"Authorization": f"Bearer {token}"}) as response:
                    assert response.status == 200, await response.text()
            demo.proc.send_signal(signal.SIGINT)
            async with asyncio.timeout(STOP_SECONDS):
                assert await demo.proc.wait() == 0
    first, second = ("\n".join(lines) for lines in runs)
    assert "residents 6 created" in first and "residents 0 created, 6 updated" in second
    for label in ("sign in as:", "topic root:", "API token:"):
        printed = [line for line in runs[0] if label in line]
        assert printed and printed == [line for line in runs[1] if label in line], label
    assert "/eldercare/v1/devices/<device-id>/alarm" in first


@pytest.mark.parametrize("port_flag", ["--port", "--twilio-port"])
async def test_a_busy_port_is_a_clear_error(tmp_path: Path, port_flag: str) -> None:
    """A port already in use ends the demo with exit code 5 and names the flag to change."""
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    busy = server.sockets[0].getsockname()[1]
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "alert_gateway", "demo", "--data-dir", str(tmp_path / "d"),
            "--embedded-broker", "--port", str(free_port()), "--twilio-port", str(free_port()),
            port_flag, str(busy), cwd=ROOT, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(STOP_SECONDS):
            _, err = await proc.communicate()
    finally:
        server.close()
    assert proc.returncode == 5
    assert port_flag in err.decode()


async def test_an_unknown_scenario_fails_before_anything_starts(tmp_path: Path) -> None:
    """A typo in --scenario is exit code 2 with the choices, and no data folder is made."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "alert_gateway", "demo", "--data-dir", str(tmp_path / "d"),
        "--scenario", "pendant-at-4am", cwd=ROOT, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(STOP_SECONDS):
        _, err = await proc.communicate()
    assert proc.returncode == 2
    assert "--scenario" in err.decode() and "pendant-at-3am" in err.decode()
    assert not (tmp_path / "d").exists()
