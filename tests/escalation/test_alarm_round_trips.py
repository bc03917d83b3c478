"""One alarm's whole lifecycle at a quiet time costs a pinned number of transactions and
statements: stored and planned, sent, its sends' results and status callbacks, its next step
planned (issue 11: at 10 alarms/s these round trips are most of an alarm's CPU)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from alert_gateway.clock import FakeClock
from alert_gateway.services import Services
from tests.harness import device_client

from .env import Env, escalation_env, seed

AUTOCOMMIT = "(no BEGIN)"  # first in the list of a round that ran in autocommit


@contextmanager
def transactions_seen(services: Services) -> Iterator[list[list[str]]]:
    """The transactions the gateway (not this test's own reads) began while the block runs, each
    as the heads of its statements (after AUTOCOMMIT for a round of statements in autocommit)."""
    seen: list[list[str]] = []
    current: dict[int, list[str]] = {}
    test = asyncio.current_task()

    def began(conn: Any) -> None:
        if asyncio.current_task() is not test:
            # a round of lone statements on PostgreSQL sends no BEGIN (db/groupcommit.py)
            autocommit = conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
            current[id(conn)] = [AUTOCOMMIT] if autocommit else []
            seen.append(current[id(conn)])

    def sent(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if id(conn) in current and asyncio.current_task() is not test:
            current[id(conn)].append(" ".join(statement.split()[:3]))

    sync = services.engine.sync_engine
    event.listen(sync, "begin", began)
    event.listen(sync, "before_cursor_execute", sent)
    try:
        yield seen
    finally:
        event.remove(sync, "before_cursor_execute", sent)
        event.remove(sync, "begin", began)


def _next_step_planned(env: Env, number: str) -> Callable[[], Awaitable[list[tuple[str, str]] | None]]:
    """The number's attempts once its call ended unanswered, its SMS was delivered and the
    re-dial is planned."""
    async def check() -> list[tuple[str, str]] | None:
        rows = [(a.channel, a.status) for a in await env.attempts(to_number=number)]
        return rows if len(rows) == 3 and rows[1] == ("sms", "delivered") else None
    return check


async def test_an_unanswered_alarm_up_to_its_next_step_costs_pinned_round_trips(
        database_url: str, topic_root: str, clock: FakeClock) -> None:
    """The daughter's call ends without a key while her SMS is delivered, and her re-dial is
    planned: the alarm stored and planned in one transaction (10 statements: its claim, then its
    device, active alert and people in one read), its two send results in one, its status
    callbacks in at most four, the next step in one (6: its responders and the short codes in use
    in one read), no look that finds nothing: 7 transactions, 24 statements (once the gateway has
    settled with a first alarm; the board gauges, read at most once a second whatever the rate,
    are not the alarm's). On PostgreSQL each send result and callback is one statement run in
    autocommit (the first send marks its alert, the call's end pokes the escalation, the person's
    voice marks the contact answered, each in that same statement), and a step's attempts,
    responders, answer links, timeline entries and escalation are one statement (in the store,
    with the message's alert), and the claim comes with the device read: only the store (4
    statements) and the step (5) send BEGIN and COMMIT, 14 statements in all."""
    await seed(database_url, n=2)
    async with escalation_env(database_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev:
        await dev.alarm("pendant-1", "m-1", "sos")
        await env.changes.until(_next_step_planned(env, "+81902220001"))
        with transactions_seen(env.gateway.services) as seen:
            await dev.alarm("pendant-2", "m-2", "sos")
            planned = await env.changes.until(_next_step_planned(env, "+81902220002"))
        assert planned == [("voice", "not_reached"), ("sms", "delivered"), ("voice", "pending")]
        ours = [t for t in seen if t and not t[0].startswith("SELECT alert.status")]
        shown = "\n".join("-- " + "\n   ".join(t) for t in ours)
        intake, *sends, step = ours
        heads = [h for t in sends for h in t if h != AUTOCOMMIT]
        # A callback that beat its send's answer (the fake calls back at once): that result
        # takes the row-by-row path, a read and a write more.
        late = heads.count("SELECT notificationattempt.id, notificationattempt.alert_id,")
        sqlite = database_url.startswith("sqlite")
        assert len(intake) == (10 if sqlite else 4), shown
        # the claim, then the device with its active alert and people (one statement on PostgreSQL)
        claim = "INSERT INTO inboundmessage" if sqlite else "WITH claimed_inboundmessage"
        assert intake[0].startswith(claim), shown
        assert intake[1].startswith("SELECT device") or not sqlite, shown
        assert not any(h.startswith("SELECT resident") for h in intake), shown
        assert heads[:2] == ["UPDATE notificationattempt SET", "UPDATE alert SET"] \
            or heads[0] == "WITH taken AS" or late, shown
        assert len(sends) <= 5, shown  # the results in one transaction, the callbacks in four
        assert len(heads) - 2 * late <= 8, shown
        assert all(h.startswith(("UPDATE", "WITH")) for h in heads  # no lock reads, no look at nothing
                   if h != "SELECT notificationattempt.id, notificationattempt.alert_id,"), shown
        assert len(step) == (6 if sqlite else 5) and step[0].startswith("SELECT escalation"), shown
        lone = sum(t[0] == AUTOCOMMIT for t in sends)
        assert len(ours) <= 7 and sum(map(len, ours)) - lone - 2 * late <= 24, shown
        if sqlite:
            assert lone == 0, shown
        else:  # each send result and callback is one statement (a first send with its alert's
            # mark, the end with its poke, the person with the contact's answer): only the store
            # and the step begin a transaction (and a result the row-by-row path takes)
            assert len(ours) - lone <= 2 + bool(late), shown
            assert sum(map(len, ours)) - lone - 2 * late <= 14, shown
