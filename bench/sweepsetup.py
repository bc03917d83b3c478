"""The sweep benchmark's database and phones: residents with their own phones (some at risk),
an API token made in the database before the gateway starts, scripted answers, and progress
read straight from the sweep's rows (GET /sweeps/{id} lists every resident: too heavy to poll)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from alert_gateway.access import tokens
from alert_gateway.db.engine import make_engine
from alert_gateway.db.residents import Resident
from alert_gateway.db.sweep import SweepEntry
from alert_gateway.twilio.fake_state import FakeTwilio

SWEEP_AREA = "石川県輪島市"  # the swept residents; the alarm residents live elsewhere
ALARM_AREA = "東京都千代田区"
AT_RISK_EVERY = 10  # every 10th swept resident is bed-bound: called first


def resident_phone(i: int) -> str:
    """The resident's own phone (E.164), distinct from their contact's +8190… number."""
    return f"+8170{i:08d}"


def answer_of(i: int) -> str:
    """How swept resident i answers: 2 % press 9, 5 % never answer, the rest press 1."""
    slot = i % 100
    return "9" if slot < 2 else "none" if slot < 7 else "1"


async def give_phones(url: str, swept: int, alarm_residents: list[str]) -> None:
    """Swept residents r-sw… get a phone, an address in the swept area, every 10th bed-bound;
    the alarm residents an address outside it."""
    engine = make_engine(url)
    table = Resident.__table__  # type: ignore[attr-defined]
    stmt = (update(table).where(table.c.id == bindparam("b_id"))
            .values(phone=bindparam("b_phone"), address=bindparam("b_address"),
                    bed_bound=bindparam("b_bed")))
    rows = [{"b_id": f"r-sw{i:06d}", "b_phone": resident_phone(i), "b_address": f"{SWEEP_AREA}{i}",
             "b_bed": i % AT_RISK_EVERY == 0} for i in range(swept)]
    rows += [{"b_id": f"r-{d}", "b_phone": None, "b_address": f"{ALARM_AREA}{d}", "b_bed": False}
             for d in alarm_residents]
    try:
        async with engine.begin() as conn:
            await conn.execute(stmt, rows)
    finally:
        await engine.dispose()


async def make_token(url: str) -> str:
    """An API token stored before the gateway starts (as `alert-gateway token create` would)."""
    engine = make_engine(url)
    try:
        async with AsyncSession(engine) as session:
            _, token = await tokens.create(session, name="bench-sweep", now=datetime.now(UTC))
            await session.commit()
    finally:
        await engine.dispose()
    return token


def script_phones(fake: FakeTwilio, swept: int) -> Counter[str]:
    """Tell the fake how each swept resident answers; how many of each."""
    planned: Counter[str] = Counter()
    for i in range(swept):
        answer = answer_of(i)
        planned[answer] += 1
        behaviour = {"call": "no-answer"} if answer == "none" else {"call": "answer", "press": answer}
        fake.phone(resident_phone(i)).update(behaviour)
    return planned


class Progress:
    """Residents per sweep state, from the database the gateway writes."""

    def __init__(self, url: str) -> None:
        self.engine: AsyncEngine = make_engine(url)
        self.last: dict[str, int] = {}

    async def read(self) -> dict[str, int]:
        """Counts per state now (the last counts if the database was busy)."""
        table = SweepEntry.__table__  # type: ignore[attr-defined]
        query = select(table.c.state, func.count()).group_by(table.c.state)
        try:
            async with self.engine.connect() as conn:
                self.last = {str(s): int(n) for s, n in (await conn.execute(query)).all()}
        except OperationalError:
            pass  # SQLite locked by the gateway's writer this instant: next look
        return self.last

    def open_entries(self) -> int:
        """Residents still waiting or being called in the last counts."""
        return self.last.get("waiting", 0) + self.last.get("calling", 0)

    async def close(self) -> None:
        """Dispose of the connection pool."""
        await self.engine.dispose()


def calls_placed(fake: FakeTwilio) -> int:
    """Calls the gateway created to swept residents' own phones."""
    return sum(1 for r in fake.recorded
               if r.kind == "api" and r.method == "POST" and r.url.split("?")[0].endswith("/Calls.json")
               and (r.params.get("To") or [""])[0].startswith("+8170"))
