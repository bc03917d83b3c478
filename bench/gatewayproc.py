"""The gateway under test as a child (`alert-gateway serve`), with /proc and /metrics probes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from .common import REPO, free_port

TICKS = os.sysconf("SC_CLK_TCK")
ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-token"


def engine_wired() -> bool:
    """True when Gateway(...).task_factories runs an escalation engine task."""
    from alert_gateway.gateway import Gateway
    from alert_gateway.services import build_services
    from alert_gateway.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        services = build_services(Settings(database_url=f"sqlite+aiosqlite:///{tmp}/x.db"))
        names = [name for name, _ in Gateway(services).task_factories]
    return any("escal" in n or "engine" in n or "sender" in n for n in names)


@dataclass
class GatewayProcess:
    """One `alert-gateway serve` child with bench settings in its environment."""

    database_url: str
    mqtt_port: int
    twilio_base: str = "http://127.0.0.1:9"
    topic_root: str = field(default_factory=lambda: f"agbench-{uuid.uuid4().hex[:8]}/v1/devices")
    client_id: str = field(default_factory=lambda: f"agbench-gw-{uuid.uuid4().hex[:8]}")
    http_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=lambda: Path(tempfile.mkstemp(prefix="agbench-gw-",
                                                                         suffix=".log")[1]))

    @property
    def url(self) -> str:
        """The gateway's HTTP base URL."""
        return f"http://127.0.0.1:{self.http_port}"

    def env(self) -> dict[str, str]:
        """ALERT_GATEWAY_* settings for the child."""
        p = "ALERT_GATEWAY_"
        env = {k: v for k, v in os.environ.items() if not k.startswith(p)}
        env.update({
            p + "DATABASE_URL": self.database_url, p + "MQTT_URL": f"mqtt://127.0.0.1:{self.mqtt_port}",
            p + "MQTT_CLIENT_ID": self.client_id, p + "MQTT_TOPIC_ROOT": self.topic_root,
            p + "MQTT_RECEIVE_MAXIMUM": "65535", p + "HTTP_PORT": str(self.http_port),
            p + "PUBLIC_URL": self.url, p + "TWILIO_API_BASE": self.twilio_base,
            p + "TWILIO_ACCOUNT_SID": ACCOUNT_SID, p + "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            p + "LOG_LEVEL": "WARNING", p + "DRILL_MODE": "true",  # the fake Twilio, bench credentials
            # this checkout's code, also from a worktree whose venv is another checkout's
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        })
        env.update({p + k.upper(): v for k, v in self.extra_env.items()})
        return env

    async def start(self, limit: float = 30.0) -> float:
        """Spawn and wait until /readyz says ready and /healthz says subscribed; returns seconds
        from spawn to ready."""
        started = time.perf_counter()
        self.spawn()
        await self.wait_ready(limit)
        ready = time.perf_counter() - started
        # Readiness leaves MQTT out (web/health.py), and a new client id has no session at the
        # broker yet: an alarm published before the subscription would be dropped.
        await self.wait_subscribed(limit)
        self._maybe_profile()
        return ready

    def _maybe_profile(self) -> None:
        """With BENCH_PYSPY=<file>, attach py-spy to the child until it exits (flame graph; raw
        stacks for a .txt, samples in time order for a .speedscope.json).

        `--gil` samples only the thread holding the GIL: without it py-spy counts a thread
        waiting in `send` or `epoll_wait` as busy (≈ 2.5× the real CPU at 10 alarms/s)."""
        out = os.environ.get("BENCH_PYSPY")
        if out and self.proc is not None:
            spy = Path(sys.executable).parent / "py-spy"
            fmt = ("raw" if out.endswith(".txt")
                   else "speedscope" if out.endswith(".speedscope.json") else "flamegraph")
            subprocess.Popen([str(spy), "record", "--pid", str(self.proc.pid), "--rate", "250",
                              "--format", fmt, "-o", out, "--nonblocking", "--gil"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def spawn(self) -> None:
        """Spawn the child without waiting (cwd is a temp dir so no config/gateway.toml is read)."""
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self._argv(), env=self.env(), stdout=log,
                                     stderr=subprocess.STDOUT, cwd=tempfile.gettempdir())
        log.close()

    def _argv(self) -> list[str]:
        """`alert-gateway serve`; BENCH_SWITCH_INTERVAL=<s> runs it with another GIL switch interval."""
        switch = os.environ.get("BENCH_SWITCH_INTERVAL")
        if not switch:
            return [sys.executable, "-m", "alert_gateway", "serve"]
        code = (f"import sys; sys.setswitchinterval({float(switch)}); "
                "from alert_gateway.cli import main; sys.exit(main(['serve']))")
        return [sys.executable, "-c", code]

    async def wait_ready(self, limit: float = 30.0) -> None:
        """Poll /readyz every 20 ms."""
        deadline = time.monotonic() + limit
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    code = self.proc.returncode
                    raise RuntimeError(f"gateway exited ({code}); see {self.log_path}")
                try:
                    async with http.get(self.url + "/readyz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.02)
        raise TimeoutError(f"gateway not ready; see {self.log_path}")

    async def wait_subscribed(self, limit: float = 30.0) -> None:
        """Poll /healthz every 20 ms until its MQTT check is ok (connected and subscribed)."""
        deadline = time.monotonic() + limit
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                async with http.get(self.url + "/healthz") as r:
                    if (await r.json())["checks"].get("mqtt") == "ok":
                        return
                await asyncio.sleep(0.02)
        raise TimeoutError(f"gateway not subscribed; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        """SIGTERM and wait (bounded), then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()

    def cpu_seconds(self) -> float:
        """utime + stime of the child so far."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def rss_bytes(self) -> int:
        """Resident set size of the child."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    async def metric(self, name: str) -> float:
        """Sum of one Prometheus series from /metrics (all label sets)."""
        async with aiohttp.ClientSession() as http, http.get(self.url + "/metrics") as r:
            text = await r.text()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and (line[len(name)] in " {"):
                total += float(line.rsplit(" ", 1)[1])
        return total


def self_cpu_seconds() -> float:
    """CPU seconds of this (load generator) process."""
    t = os.times()
    return t.user + t.system


@dataclass
class Replicas:
    """Several gateways on one database and topic root, sharing the alarms through an MQTT shared
    subscription (PostgreSQL only: LISTEN/NOTIFY links them); read as one gateway by the benches."""

    members: list[GatewayProcess]

    @classmethod
    def of(cls, first: GatewayProcess, count: int) -> Replicas:
        """`first` and count-1 more like it (own client id and HTTP port)."""
        if count > 1:
            first.extra_env["mqtt_share_group"] = "agbench"
        more = [GatewayProcess(first.database_url, first.mqtt_port, twilio_base=first.twilio_base,
                               topic_root=first.topic_root, extra_env=dict(first.extra_env))
                for _ in range(count - 1)]
        return cls([first, *more])

    @property
    def topic_root(self) -> str:
        """The root all of them serve."""
        return self.members[0].topic_root

    async def start(self) -> None:
        """Start them one after the other (the first migrates nothing: the bench seeded the schema)."""
        for member in self.members:
            await member.start()

    def stop(self) -> None:
        """SIGTERM each."""
        for member in self.members:
            member.stop()

    def cpu_seconds(self) -> float:
        """Their CPU together: the cost of an alarm is what all replicas spent on it."""
        return sum(member.cpu_seconds() for member in self.members)

    def rss_bytes(self) -> int:
        """Their resident memory together."""
        return sum(member.rss_bytes() for member in self.members)
