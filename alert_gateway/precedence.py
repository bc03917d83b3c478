"""The alarm path goes first on the event loop: its tasks resume ahead of the callbacks queued.

asyncio runs ready callbacks first in, first out. When a database round trip of the ingest writer
ended, the writer's wake-up went to the back of the queue, behind every status callback, group
commit round and webhook made ready meanwhile: at 100 alarms/s (the loop ~80 % busy) each await
between an alarm read and its first Twilio request waited for the rest of a loop iteration (issue
11, bench/README.md, branch lat100). Code run under `ahead()` (and tasks it starts, which inherit
the mark as they inherit every context variable) is woken at the front of the queue instead,
right after the callback that completed what it awaited. A marked task's bare yield (`sleep(0)`)
still goes to the back, so it never holds the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import weakref
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_AHEAD: contextvars.ContextVar[bool] = contextvars.ContextVar("ahead", default=False)
# per installed loop: the handles moved to the front, in order (those still queued lead its ready
# deque; the ones already run are dropped at the next move)
_MOVED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, deque[asyncio.Handle]] = (
    weakref.WeakKeyDictionary())


def install(loop: asyncio.AbstractEventLoop) -> None:
    """Make `loop` run marked wake-ups first (idempotent; a loop without asyncio's ready deque,
    such as uvloop, is left as it is: marks then change nothing)."""
    ready = getattr(loop, "_ready", None)
    if loop in _MOVED or not isinstance(ready, deque):
        return
    moved = _MOVED[loop] = deque()
    call_soon = loop.call_soon

    def call_soon_ahead(callback: Callable[..., object], *args: Any,
                        context: contextvars.Context | None = None) -> asyncio.Handle:
        handle = call_soon(callback, *args, context=context)
        # Futures and tasks pass the waiting code's context; None is the caller's own
        mark = _AHEAD.get() if context is None else context.get(_AHEAD)
        if mark and ready[-1] is handle and _resumes(callback):
            _to_front(ready, moved)
        return handle

    loop.call_soon = call_soon_ahead  # type: ignore[method-assign,assignment]


def _to_front(ready: deque[asyncio.Handle], moved: deque[asyncio.Handle]) -> None:
    """The last queued handle goes behind the ones moved before it: a future's callbacks keep
    their order (asyncio's sock_connect relies on its done callback running before the wake-up
    of the task waiting). The loop takes handles from the left only, so the moved ones still
    queued are `ready`'s first ones: the ones run are those before `ready[0]`."""
    handle = ready.pop()
    while moved and (not ready or moved[0] is not ready[0]):
        moved.popleft()
    ready.insert(len(moved), handle)
    moved.append(handle)


def _resumes(callback: Callable[..., object]) -> bool:
    """Anything but a running task's next step after a bare yield: a task woken by what it
    awaited, a new task's first step, a done callback (asyncio.wait's) of marked code."""
    task = getattr(callback, "__self__", None)
    if not isinstance(task, asyncio.Task) or getattr(callback, "__name__", "") in (
            "task_wakeup", "__wakeup"):  # the C and the Python Task's wake-up
        return True
    coro = task.get_coro()
    return inspect.iscoroutine(coro) and inspect.getcoroutinestate(coro) == inspect.CORO_CREATED


@contextlib.contextmanager
def ahead(really: bool = True) -> Iterator[None]:
    """Wake-ups of the current task (and of tasks started meanwhile) go first in this block, if
    `really`; `ahead(False)` takes an inherited mark off."""
    token = _AHEAD.set(really)
    try:
        yield
    finally:
        _AHEAD.reset(token)


def start(coro: Coroutine[Any, Any, T], *, ahead: bool, name: str | None = None) -> asyncio.Task[T]:
    """A task marked `ahead` or not, whatever its creator is; a marked one's first step also runs
    before the callbacks already queued (an alarm's send, handed over by the ingest writer)."""
    context = contextvars.copy_context()
    context.run(_AHEAD.set, ahead)
    task = asyncio.create_task(coro, name=name, context=context)
    loop = task.get_loop()
    moved = _MOVED.get(loop)
    ready = getattr(loop, "_ready", None)
    if ahead and moved is not None and isinstance(ready, deque) and ready and getattr(
            getattr(ready[-1], "_callback", None), "__self__", None) is task:
        _to_front(ready, moved)  # its first step, queued by create_task
    return task
