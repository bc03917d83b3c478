"""Sign-in throttle counters in the database: reserve, give back, list and clear. Caller commits.

In the database so that every replica behind the load balancer counts the same failures and a
supervisor's clearing reaches them all. `reserve` locks the attempt's rows (an upsert takes the
row lock on PostgreSQL; on SQLite the first write takes the file's write lock), so two attempts
on the same counter are decided one after the other, never both on a stale count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy import select as select_columns
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.auth import SignInThrottle
from .throttle import Counter, Scope, ThrottlePolicy, Wait, decide, keys_for, live_failures, retry_at

_table = SignInThrottle.__table__  # type: ignore[attr-defined]


async def reserve(session: AsyncSession, *, account: str, address: str, now: datetime,
                  policy: ThrottlePolicy) -> Wait | None:
    """Count this attempt as a failure up front, or say how long to wait (nothing counted)."""
    counters = [await _locked(session, key, scope, name, where, now=now)
                for key, (scope, name, where) in keys_for(account, address).items()]
    wait = decide(counters, now=now, policy=policy)
    if wait is not None:
        await session.rollback()  # not even the rows just made: refusals must not fill the table
        return wait
    for counter in counters:
        failures = live_failures(counter, now=now, policy=policy) + 1
        await session.exec(update(_table).where(_table.c.key == counter.key)  # type: ignore[call-overload]
                           .values(failures=failures, last_failure_at=now))
    await _forget_quiet(session, now=now, policy=policy)
    return None


async def give_back(session: AsyncSession, *, account: str, address: str) -> None:
    """A correct password: the pair and the account start afresh, the address gets its one back."""
    for key, (scope, _, _) in keys_for(account, address).items():
        if scope is Scope.ADDRESS:
            await session.exec(update(_table).where(  # type: ignore[call-overload]
                _table.c.key == key, _table.c.failures > 0).values(failures=_table.c.failures - 1))
        else:
            await session.exec(delete(_table).where(_table.c.key == key))  # type: ignore[call-overload]


@dataclass(frozen=True)
class Throttled:
    """One counter as a supervisor sees it."""

    key: str
    scope: Scope
    account: str | None
    address: str | None
    failures: int
    last_failure_at: datetime
    retry_at: datetime


async def get_all(session: AsyncSession, *, now: datetime,
                  policy: ThrottlePolicy) -> list[Throttled]:
    """Counters with failures not yet forgotten, the longest wait first."""
    since = now - policy.forget_after
    rows = (await session.exec(select(SignInThrottle).where(
        col(SignInThrottle.last_failure_at) > since, col(SignInThrottle.failures) > 0))).all()
    shown = []
    for row in rows:
        counter = Counter(row.key, Scope(row.scope), row.failures, row.last_failure_at)
        shown.append(Throttled(row.key, Scope(row.scope), row.account, row.address, row.failures,
                               row.last_failure_at, retry_at(counter, now=now, policy=policy)))
    return sorted(shown, key=lambda t: (t.retry_at, t.failures), reverse=True)


async def clear(session: AsyncSession, *, key: str) -> None:
    """Forget one counter (a supervisor's decision)."""
    await session.exec(delete(_table).where(_table.c.key == key))  # type: ignore[call-overload]


async def _locked(session: AsyncSession, key: str, scope: Scope, account: str | None,
                  address: str | None, *, now: datetime) -> Counter:
    connection = await session.connection()
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(_table).values(key=key, scope=scope.value, account=account,
                                           address=address, failures=0, last_failure_at=now)
    # A no-op update rather than DO NOTHING: it returns the existing row and locks it.
    upsert = insert.on_conflict_do_update(index_elements=[_table.c.key],
                                          set_={"failures": _table.c.failures})
    row = (await session.exec(upsert.returning(  # type: ignore[call-overload]
        _table.c.failures, _table.c.last_failure_at))).one()
    return Counter(key, scope, row.failures, row.last_failure_at)


async def _forget_quiet(session: AsyncSession, *, now: datetime, policy: ThrottlePolicy) -> None:
    # Bounded table under a spray of invented names. SKIP LOCKED: never wait on a row another
    # attempt holds (it is not quiet anyway), so this cannot deadlock with it.
    quiet = (select_columns(_table.c.key).where(_table.c.last_failure_at <= now - policy.forget_after)
             .with_for_update(skip_locked=True))
    await session.exec(delete(_table).where(_table.c.key.in_(quiet)))  # type: ignore[call-overload]
