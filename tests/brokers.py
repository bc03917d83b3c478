"""A private Mosquitto process for tests that must stop or restart the broker."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

from tests.mosquitto import MosquittoProcess


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateBroker:
    """mosquitto on its own port and config; start/stop at will."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        """mqtt:// URL of this broker."""
        return f"mqtt://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Start and wait until it listens (bounded; its log is in the error if it does not)."""
        self.mosquitto = await MosquittoProcess.start(self.conf)  # held: its task drains the log
        self.proc = self.mosquitto.proc

    async def kill(self) -> None:
        """SIGKILL the broker (a crash or a network cut, as the gateway sees it)."""
        if self.proc and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing is answered (a broker stuck or far away)."""
        assert self.proc is not None and self.proc.returncode is None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after `pause`: the broker answers what queued up meanwhile."""
        assert self.proc is not None and self.proc.returncode is None
        self.proc.send_signal(signal.SIGCONT)
