"""Where a suspended task waits: the chain of its awaits, so that a task cut off at the stop's
bound is found by its log line, not by a debugger (gateway.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

DEPTH = 24


def awaiting(task: asyncio.Task[Any]) -> str:
    """`file:line function` of each coroutine the task is suspended in, outermost first."""
    found: list[str] = []
    step: Any = task.get_coro()
    while step is not None and len(found) < DEPTH:
        frame = getattr(step, "cr_frame", None) or getattr(step, "gi_frame", None)
        if frame is None:  # a future or an iterator of one: where the chain ends
            break
        found.append(f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno} {frame.f_code.co_name}")
        step = getattr(step, "cr_await", None) or getattr(step, "gi_yieldfrom", None)
    return " → ".join(found)
