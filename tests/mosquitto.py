"""Start a mosquitto process and know when it listens: from its log, not by polling the port."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
START_TIMEOUT = 10.0
# Printed once every listener is bound and listening (mosquitto 2.x, src/mosquitto.c); the
# "Opening ... listen socket" line comes before the bind, so it is not proof of readiness.
RUNNING = " running"


class BrokerFailed(AssertionError):
    """Mosquitto exited or never became ready; the message carries its log."""


class MosquittoProcess:
    """One mosquitto whose log (stderr, the default destination) is kept for failure messages."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.new_line = asyncio.Event()  # set whenever the log grows (a test clears it to wait)
        self._running = asyncio.Event()
        self._reader = asyncio.create_task(self._read_log())  # always drained: a full pipe stalls it

    @classmethod
    async def start(cls, conf: Path) -> MosquittoProcess:
        """Start mosquitto on `conf`; return once it listens, or raise BrokerFailed with its log."""
        proc = await asyncio.create_subprocess_exec(
            MOSQUITTO,
            "-c",
            str(conf),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        broker = cls(proc)
        ready = asyncio.create_task(broker._running.wait())
        try:
            async with asyncio.timeout(START_TIMEOUT):
                await asyncio.wait({broker._reader, ready}, return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            broker.proc.kill()
            await broker._reader
            raise broker.failure(f"mosquitto did not listen within {START_TIMEOUT:.0f} s") from None
        finally:
            ready.cancel()
        if not broker._running.is_set():
            raise broker.failure(f"mosquitto exited with code {proc.returncode} before listening")
        return broker

    def failure(self, what: str) -> BrokerFailed:
        """An assertion error naming `what`, followed by everything the broker logged."""
        return BrokerFailed(f"{what}; mosquitto log:\n" + ("".join(self.lines) or "(empty)\n"))

    async def _read_log(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            text = line.decode(errors="replace")
            self.lines.append(text)
            self.new_line.set()
            if text.rstrip().endswith(RUNNING):
                self._running.set()
        await self.proc.wait()

    async def stop(self) -> None:
        """SIGTERM, and SIGKILL if it is still running after START_TIMEOUT; then its log is complete.

        Seen here once: a SIGTERM sent right after "running" left mosquitto running, so the
        kill is the bound.
        """
        if self.proc.returncode is None:
            self.proc.terminate()
        try:
            async with asyncio.timeout(START_TIMEOUT):
                await asyncio.shield(self._reader)
        except TimeoutError:
            self.proc.kill()
            await self._reader
