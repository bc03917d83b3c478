"""The alarm path's wake-ups go first on the event loop (alert_gateway/precedence.py)."""

from __future__ import annotations

import asyncio

from alert_gateway import precedence


async def _woken_in_order(marked: bool) -> list[str]:
    """Two tasks wait; the unmarked one's future completes first, then the other's."""
    precedence.install(asyncio.get_running_loop())
    order: list[str] = []
    loop = asyncio.get_running_loop()
    first, second = loop.create_future(), loop.create_future()

    async def plain() -> None:
        await first
        order.append("plain")

    async def alarm() -> None:
        with precedence.ahead(marked):
            await second
            order.append("alarm")

    tasks = [asyncio.create_task(plain()), asyncio.create_task(alarm())]
    await asyncio.sleep(0)  # both wait now
    first.set_result(None)
    second.set_result(None)
    await asyncio.gather(*tasks)
    return order


async def test_a_marked_task_is_woken_before_callbacks_queued_earlier() -> None:
    """Completed in the same turn, the marked waiter runs first; unmarked, first come first served."""
    assert await _woken_in_order(True) == ["alarm", "plain"]
    assert await _woken_in_order(False) == ["plain", "alarm"]


async def test_a_marked_bare_yield_lets_the_others_run() -> None:
    """`sleep(0)` in a marked task goes to the back of the queue: it never holds the loop."""
    precedence.install(asyncio.get_running_loop())
    order: list[str] = []

    async def spinner() -> None:
        with precedence.ahead():
            for _ in range(3):
                order.append("spin")
                await asyncio.sleep(0)

    async def other() -> None:
        order.append("other")

    spin = asyncio.create_task(spinner())
    await asyncio.sleep(0)  # the spinner ran once and yielded
    await asyncio.gather(spin, asyncio.create_task(other()))
    assert order.index("other") < 3


async def test_a_futures_callbacks_keep_their_order_when_marked() -> None:
    """A done callback added before the marked waiter's still runs before it (asyncio's
    sock_connect removes its writer there, before the waiting task makes a transport)."""
    loop = asyncio.get_running_loop()
    precedence.install(loop)
    order: list[str] = []

    async def waiter() -> None:
        with precedence.ahead():
            done = loop.create_future()
            done.add_done_callback(lambda _: order.append("callback"))
            loop.call_soon(done.set_result, None)
            await done
            order.append("waiter")

    loop.call_soon(order.append, "queued before")
    await asyncio.create_task(waiter())
    assert order.index("callback") < order.index("waiter")


async def test_a_task_started_ahead_or_not_whatever_its_creator() -> None:
    """`start(ahead=True)` runs the new task's first step before what is queued, and marks it;
    `start(ahead=False)` from marked code starts an unmarked task, in turn."""
    loop = asyncio.get_running_loop()
    precedence.install(loop)
    order: list[str] = []

    async def send(what: str) -> None:
        order.append(f"{what}, marked: {precedence._AHEAD.get()}")

    loop.call_soon(order.append, "queued")
    with precedence.ahead():  # like the ingest writer handing sends over and queueing receipts
        tasks = [precedence.start(send("receipt"), ahead=False),
                 precedence.start(send("alarm"), ahead=True)]
    await asyncio.gather(*tasks)
    assert order == ["alarm, marked: True", "queued", "receipt, marked: False"]
