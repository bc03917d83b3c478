"""The gateway as a real operating-system process, for crash and signal tests."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

READY_LINE = b"mqtt connected"
DRILL_MODE = "ALERT_GATEWAY_DRILL_MODE"


@asynccontextmanager
async def gateway_process(env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """`alert-gateway serve` as a real process; yields once it is connected to the broker.

    A drill (ALERT_GATEWAY_DRILL_MODE=true unless `env` says otherwise): the tests talk to the
    project's fake Twilio, or to none, with placeholder credentials.
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "alert_gateway",
        "serve",
        env={**os.environ, DRILL_MODE: "true", **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    drain: asyncio.Task[bytes] | None = None
    try:
        async with asyncio.timeout(30):
            while READY_LINE not in (line := await proc.stderr.readline()):
                assert line, "gateway exited before connecting"
        drain = asyncio.create_task(proc.stderr.read())  # keep the pipe from filling up
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if drain is not None:
            drain.cancel()
