"""Private Mosquitto processes for tests that need their own config or must stop the broker."""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
START_TIMEOUT = 10.0
# Printed once every listener is bound and listening (mosquitto 2.x, src/mosquitto.c); the
# "Opening ... listen socket" line comes before the bind, so it is not proof of readiness.
RUNNING = "running"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BrokerFailed(AssertionError):
    """Mosquitto exited or never became ready; the message carries its log."""


class MosquittoProcess:
    """One mosquitto process whose log (stderr) is kept, for readiness and for failure messages."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._running = asyncio.Event()
        self._reader = asyncio.create_task(self._read_log())

    @classmethod
    async def start(cls, conf: Path) -> MosquittoProcess:
        """Start mosquitto on `conf` and return once it listens; BrokerFailed (with its log) if not."""
        proc = await asyncio.create_subprocess_exec(
            MOSQUITTO,
            "-c",
            str(conf),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        broker = cls(proc)
        try:
            async with asyncio.timeout(START_TIMEOUT):
                await broker._wait_running()
        except TimeoutError:
            await broker.stop()
            raise broker.failure(f"mosquitto did not start within {START_TIMEOUT:.0f} s") from None
        return broker

    def failure(self, what: str) -> BrokerFailed:
        """An assertion error naming `what`, followed by everything the broker logged."""
        return BrokerFailed(f"{what}; mosquitto log:\n" + ("".join(self.lines) or "(empty)\n"))

    async def _wait_running(self) -> None:
        ready = asyncio.create_task(self._running.wait())
        try:
            await asyncio.wait({self._reader, ready}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        if not self._running.is_set():
            raise self.failure(f"mosquitto exited with code {self.proc.returncode} before listening")

    async def _read_log(self) -> None:
        # Always drained: a full pipe would stall the broker.
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            text = line.decode(errors="replace")
            self.lines.append(text)
            if RUNNING in text and "version" in text:
                self._running.set()
        await self.proc.wait()

    async def kill(self) -> None:
        """SIGKILL (a crash or a network cut, as a client sees it)."""
        if self.proc.returncode is None:
            self.proc.kill()
        await self._reader

    async def stop(self) -> None:
        """SIGTERM and wait (bounded) for the process and its log to end."""
        if self.proc.returncode is None:
            self.proc.terminate()
        async with asyncio.timeout(START_TIMEOUT):
            await self._reader


class PrivateBroker:
    """mosquitto on its own port and config; start/stop at will."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "log_dest stderr\n"
        )
        self.process: MosquittoProcess | None = None

    @property
    def url(self) -> str:
        """mqtt:// URL of this broker."""
        return f"mqtt://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Start and wait until it listens (bounded; the log is in the error if it does not)."""
        self.process = await MosquittoProcess.start(self.conf)

    async def kill(self) -> None:
        """SIGKILL the broker (a crash or a network cut, as the gateway sees it)."""
        if self.process is not None:
            await self.process.kill()
