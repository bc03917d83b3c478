"""alerts.queries, the read side the API and the console share."""

from __future__ import annotations

from alert_gateway.alerts import queries
from alert_gateway.clock import FakeClock
from alert_gateway.db.alerts import AlertStatus
from alert_gateway.db.engine import SessionFactory

from . import seed


async def test_history_for_resident_is_newest_first_and_limited(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A resident's history lists their own alerts, newest first, up to the limit."""
    await seed.resident(sessions, clock)
    await seed.resident(sessions, clock, "r-0002")
    old = await seed.alert(sessions, clock, status="resolved", age_minutes=90)
    mid = await seed.alert(sessions, clock, status="resolved", age_minutes=60)
    new = await seed.alert(sessions, clock, age_minutes=1)
    await seed.alert(sessions, clock, resident_id="r-0002")
    async with sessions() as s:
        rows = await queries.history_for_resident(s, resident_id="r-0001", limit=2)
        everything = await queries.history_for_resident(s, resident_id="r-0001")
    assert [a.id for a in rows] == [new, mid]
    assert [a.id for a in everything] == [new, mid, old]


async def test_get_all_counts_every_match_beyond_the_page(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """The total is the number of matches, not the page length."""
    await seed.resident(sessions, clock)
    for minutes in (3, 2, 1):
        await seed.alert(sessions, clock, age_minutes=minutes)
    async with sessions() as s:
        rows, total = await queries.get_all(s, status=[AlertStatus.OPEN], limit=1, offset=1)
    assert len(rows) == 1 and total == 3


async def test_responders_come_in_calling_order(sessions: SessionFactory, clock: FakeClock) -> None:
    """Responders are paired with their contact row, ordered by contact priority."""
    await seed.resident(sessions, clock)
    alert_id = await seed.alert(sessions, clock)
    contact_id = await seed.escalation_trace(sessions, clock, alert_id)
    async with sessions() as s:
        pairs = await queries.responders_for(s, alert_id=alert_id)
        attempts = await queries.attempts_for(s, alert_id=alert_id)
    assert [(r.contact_id, c.name) for r, c in pairs] == [(contact_id, "隣人")]
    assert [a.contact_id for a in attempts] == [contact_id]
