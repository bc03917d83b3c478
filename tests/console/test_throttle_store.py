"""Throttle counters in the database: reserved up front, given back, forgotten when quiet."""

from __future__ import annotations

from datetime import timedelta

from alert_gateway.clock import FakeClock
from alert_gateway.console import throttle_store
from alert_gateway.console.throttle import Scope, ThrottlePolicy, Wait
from alert_gateway.db.engine import SessionFactory

POLICY = ThrottlePolicy()


async def reserve(sessions: SessionFactory, clock: FakeClock, account: str,
                  address: str = "192.0.2.1") -> Wait | None:
    """One reservation in its own committed transaction, as the sign-in handler makes it."""
    async with sessions() as session:
        wait = await throttle_store.reserve(session, account=account, address=address,
                                            now=clock.now(), policy=POLICY)
        await session.commit()
    return wait


async def test_a_correct_password_gives_the_reservation_back(
        sessions: SessionFactory, clock: FakeClock) -> None:
    """Two typos then a success leave the pair and account clean and the address at two."""
    for _ in range(3):
        assert await reserve(sessions, clock, "hanako") is None
    async with sessions() as session:
        await throttle_store.give_back(session, account="hanako", address="192.0.2.1")
        await session.commit()
        shown = await throttle_store.get_all(session, now=clock.now(), policy=POLICY)
    assert [(t.scope, t.failures) for t in shown] == [(Scope.ADDRESS, 2)]


async def test_quiet_counters_leave_the_table(sessions: SessionFactory, clock: FakeClock) -> None:
    """Invented names do not pile up: fifteen quiet minutes later the next attempt sweeps them."""
    for i in range(5):
        await reserve(sessions, clock, f"invented{i}", address=f"192.0.2.{i}")
    await clock.advance(minutes=15)
    await reserve(sessions, clock, "hanako", address="203.0.113.1")
    async with sessions() as session:
        shown = await throttle_store.get_all(session, now=clock.now(), policy=POLICY)
        everything = await throttle_store.get_all(
            session, now=clock.now(), policy=ThrottlePolicy(forget_after=timedelta(days=1)))
    assert {t.account for t in shown} == {"hanako", None}
    assert len(everything) == 3, everything  # hanako's pair, address and account only


async def test_a_refused_attempt_leaves_no_rows(sessions: SessionFactory, clock: FakeClock) -> None:
    """Refused guesses under new names add nothing: a spray of names cannot fill the table."""
    for i in range(10):
        assert await reserve(sessions, clock, f"guess{i}") is None
    for i in range(20):  # the address counter refuses from here on
        assert await reserve(sessions, clock, f"invented{i}") is not None
    async with sessions() as session:
        shown = await throttle_store.get_all(session, now=clock.now(), policy=POLICY)
    assert len(shown) == 21, shown  # each guess's pair and account, and the address
    assert not any((t.account or "").startswith("invented") for t in shown), shown
