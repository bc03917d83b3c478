"""The live board's event stream ends with its session: sign-out, expiry, a disabled operator."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiohttp
from sqlmodel import col, select

from alert_gateway.bus import AlertChange, ChangeKind
from alert_gateway.clock import FakeClock
from alert_gateway.console import accounts
from alert_gateway.console.sessions import SESSION_LIFETIME
from alert_gateway.console.sse import QUEUE_SIZE, LiveHub
from alert_gateway.db.auth import Operator

from .conftest import OPERATOR, SUPERVISOR, Console

BOUND = 10.0  # seconds: far above what any step takes; a hang fails with the stream's text


class Stream:
    """An open /console/events response, read frame by frame."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.seen: list[str] = []

    async def next_frame(self) -> str:
        """The next event frame (retry and keepalive lines skipped); fails with all seen after BOUND."""
        async with asyncio.timeout(BOUND):
            while True:
                lines = []
                while (line := (await self.response.content.readline()).decode()) not in ("\n", ""):
                    lines.append(line)
                frame = "".join(lines)
                if line == "" and not frame:
                    raise EOFError(f"the stream ended; it had sent: {self.seen}")
                self.seen.append(frame)
                if "event: " in frame:
                    return frame

    async def rest(self) -> str:
        """Everything until the server ends the stream; fails if it stays open past BOUND."""
        try:
            async with asyncio.timeout(BOUND):
                return (await self.response.content.read()).decode()
        except TimeoutError:
            raise AssertionError(f"the stream is still open; it had sent: {self.seen}") from None


async def open_stream(console: Console) -> Stream:
    """Sign in, open the event stream and read its opening frames (the first `refresh`)."""
    await console.sign_in()
    response = await console.client.get("/console/events")
    assert response.status == 200, await response.text()
    stream = Stream(response)
    assert "event: refresh" in await stream.next_frame()
    await console.services.bus.publish(AlertChange(1, ChangeKind.OPENED))
    assert "event: alert" in await stream.next_frame(), "a live session must get events"
    return stream


async def test_sign_out_ends_the_stream(console_on_both: Console) -> None:
    """After sign-out (another request with the same cookie) the stream ends and sends nothing more."""
    console = console_on_both
    stream = await open_stream(console)
    csrf = await console.csrf_of("/console/")
    out = await console.client.post("/console/logout", headers={"X-CSRF-Token": csrf},
                                    allow_redirects=False)
    assert out.status == 303, await out.text()
    await console.services.bus.publish(AlertChange(2, ChangeKind.OPENED))
    rest = await stream.rest()
    assert "event: alert" not in rest, rest
    again = await console.client.get("/console/events")
    assert again.status == 401, await again.text()


async def test_an_expired_session_ends_the_stream(console_on_both: Console) -> None:
    """Once the session's lifetime has passed, the next alert ends the stream instead of reaching it."""
    console = console_on_both
    stream = await open_stream(console)
    clock = console.services.clock
    assert isinstance(clock, FakeClock)
    await clock.advance((SESSION_LIFETIME + timedelta(seconds=1)).total_seconds())
    await console.services.bus.publish(AlertChange(2, ChangeKind.OPENED))
    rest = await stream.rest()
    assert "event: alert" not in rest, rest


async def test_disabling_the_operator_ends_the_stream(console_on_both: Console) -> None:
    """When a supervisor disables the operator, the open stream ends and sends nothing more."""
    console = console_on_both
    stream = await open_stream(console)
    async with console.services.sessions() as session:
        operator = (await session.exec(select(Operator).where(col(Operator.name) == OPERATOR))).one()
        assert operator.id is not None
        await accounts.set_active(session, operator_id=operator.id, active=False)
        await session.commit()
    await console.services.bus.publish(AlertChange(2, ChangeKind.OPENED))
    rest = await stream.rest()
    assert "event: alert" not in rest, rest


async def test_another_sessions_sign_out_leaves_the_stream_open(console_on_both: Console) -> None:
    """Only the session that ended loses its stream: a live one keeps getting alerts."""
    console = console_on_both
    stream = await open_stream(console)
    csrf = await console.sign_in(SUPERVISOR)  # the client's cookie is now the supervisor's session
    out = await console.client.post("/console/logout", headers={"X-CSRF-Token": csrf},
                                    allow_redirects=False)
    assert out.status == 303, await out.text()
    await console.services.bus.publish(AlertChange(2, ChangeKind.OPENED))
    assert '"alert_id": 2' in await stream.next_frame()


async def test_when_sessions_cannot_be_checked_only_a_refresh_goes_out() -> None:
    """With the database unreachable a change reaches streams as a bare 'refresh' (no alert id),
    whose re-read goes through the session guard."""
    async def unreachable(_hashes: set[str]) -> set[str]:
        raise ConnectionRefusedError("database down")

    hub = LiveHub(unreachable)
    stream = hub.connect(session_hash="a-session")
    await hub.publish(AlertChange(7, ChangeKind.OPENED))
    await hub.fanned_out()
    sent = stream.queue.get_nowait()
    assert sent is not None and sent.kind is ChangeKind.RESYNC and sent.alert_id == 0, sent
    assert hub.connections == 1


async def test_a_stream_ends_without_sending_what_was_queued_before() -> None:
    """Changes queued while the session lived are dropped when it ends, not sent first."""
    live = {"a-session"}

    async def check(hashes: set[str]) -> set[str]:
        return hashes & live

    hub = LiveHub(check)
    stream = hub.connect(session_hash="a-session")
    await hub.publish(AlertChange(1, ChangeKind.OPENED))
    await hub.fanned_out()
    live.clear()
    await hub.publish(AlertChange(2, ChangeKind.OPENED))
    await hub.fanned_out()
    assert stream.queue.get_nowait() is None and stream.queue.empty()
    assert hub.connections == 0


async def _burst(answers: list[set[str]],
                 more: int = 100) -> tuple[LiveHub, list[AlertChange | None]]:
    """One change, then `more` noted while its session check runs; what the stream was handed."""
    release = asyncio.Event()

    async def check(hashes: set[str]) -> set[str]:
        await release.wait()
        return hashes & answers.pop(0)

    hub = LiveHub(check)
    stream = hub.connect(session_hash="a-session")
    await hub.publish(AlertChange(1, ChangeKind.OPENED))
    for _ in range(5):  # loop turns, not time: the fan-out reaches its check and waits there
        await asyncio.sleep(0)
    for alert_id in range(2, 2 + more):
        await hub.publish(AlertChange(alert_id, ChangeKind.OPENED))
    release.set()
    await hub.fanned_out()
    handed = []
    while not stream.queue.empty():
        handed.append(stream.queue.get_nowait())
    return hub, handed


async def test_a_burst_takes_one_session_check_after_the_first() -> None:
    """101 changes, two session queries (one per burst, not per change), all handed in order."""
    answers = [{"a-session"}, {"a-session"}]
    hub, handed = await _burst(answers)
    assert answers == []
    assert [c.alert_id for c in handed if c is not None] == list(range(1, 102))
    assert hub.connections == 1


async def test_changes_noted_during_a_check_wait_for_the_next_one() -> None:
    """The session ends between the two checks: none of the 100 changes noted during the first
    reaches the stream, which ends."""
    answers = [{"a-session"}, set()]
    hub, handed = await _burst(answers)
    assert answers == [] and handed == [None] and hub.connections == 0


async def test_a_burst_larger_than_a_streams_room_goes_as_one_reread() -> None:
    """More changes than the stream's queue holds: one 're-read' instead (the page re-reads the
    whole board anyway), and the stream stays open."""
    answers = [{"a-session"}, {"a-session"}]
    hub, handed = await _burst(answers, more=QUEUE_SIZE + 10)
    kinds = [(c.alert_id, c.kind) for c in handed if c is not None]
    assert kinds == [(1, ChangeKind.OPENED), (0, ChangeKind.RESYNC)], kinds[:5]
    assert hub.connections == 1
