"""A thousand residents for the sweep-with-alarms story, written in a few bulk INSERTs (the ORM
would take seconds), and reading the fake Twilio's log by outbox attempt."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

from sqlalchemy import insert

from alert_gateway.db.engine import make_engine
from alert_gateway.db.models import Contact, Device, Resident
from alert_gateway.twilio.fake_state import FakeTwilio, Recorded
from tests.conftest import create_schema

SWEPT_AREA = "輪島市河井町"  # the swept residents
ALARM_AREA = "金沢市広坂"  # the two residents whose pendants are pressed live elsewhere


def swept_phone(i: int) -> str:
    """Swept resident s-i's own phone."""
    return f"+8176800{i:04d}"


def alarm_phone(i: int) -> str:
    """Alarm resident a-i's own phone (their escalation calls it first)."""
    return f"+8176900{i:04d}"


def answer_of(i: int) -> dict[str, str]:
    """How swept resident s-i answers: every 100th presses 9, every 100th (offset 50) never
    picks up, the rest press 1."""
    if i % 100 == 0:
        return {"press": "9"}
    if i % 100 == 50:
        return {"call": "no-answer"}
    return {"press": "1"}


async def seed(url: str, swept: int, alarmed: int) -> None:
    """Residents s-1..s-`swept` in the swept area with a phone each; residents a-1..a-`alarmed`
    outside it, each with a phone, a pendant and a daughter."""
    await create_schema(url)
    now = datetime.now(UTC)
    stamps = {"created_at": now, "updated_at": now}
    residents = [{"id": f"s-{i}", "name": f"住民 {i}", "phone": swept_phone(i),
                  "phone_type": "landline", "address": f"{SWEPT_AREA}{i}", **stamps}
                 for i in range(1, swept + 1)]
    residents += [{"id": f"a-{i}", "name": f"通報者 {i}", "phone": alarm_phone(i),
                   "phone_type": "landline", "address": f"{ALARM_AREA}{i}", **stamps}
                  for i in range(1, alarmed + 1)]
    devices = [{"id": f"pendant-a{i}", "resident_id": f"a-{i}", **stamps}
               for i in range(1, alarmed + 1)]
    contacts = [{"resident_id": f"a-{i}", "name": f"家族 {i}", "relation": "family",
                 "phone": f"+8190555{i:04d}", "phone_type": "mobile", "priority": 1, **stamps}
                for i in range(1, alarmed + 1)]
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(Resident), residents)
            await conn.execute(insert(Device), devices)
            await conn.execute(insert(Contact), contacts)
    finally:
        await engine.dispose()


def script(fake: FakeTwilio, swept: int) -> None:
    """Tell the fake how each swept resident answers (its state directly: 1,000 control
    requests would cost more than the sweep)."""
    for i in range(1, swept + 1):
        fake.phone(swept_phone(i)).update(answer_of(i))


def creates(fake: FakeTwilio) -> list[tuple[Recorded, int]]:
    """Every SMS and call the gateway created, in the order the fake received them, with the
    outbox attempt each was for (from its status callback URL)."""
    found = []
    for r in fake.recorded:
        if r.kind == "api" and r.method == "POST" and r.url.endswith(("/Calls.json",
                                                                     "/Messages.json")):
            callback = (r.params.get("StatusCallback") or [""])[0]
            found.append((r, int(parse_qs(urlparse(callback).query)["attempt"][0])))
    return found
