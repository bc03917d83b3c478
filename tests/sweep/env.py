"""Residents for sweep stories: each with a phone of their own, a daughter, and for some a
neighbour volunteer (協力員); and the sweep reads the stories look at."""

from __future__ import annotations

import uuid
from typing import Any

from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.models import Contact, Device, Resident, SweepEntry
from tests.conftest import create_schema
from tests.escalation.env import Env

KANAZAWA = "金沢市広坂"
NOTO = "能登町宇出津"


def phone(i: int) -> str:
    """Resident r-i's landline."""
    return f"+8176200{i:04d}"


def daughter(i: int) -> str:
    """Resident r-i's daughter's mobile."""
    return f"+8190222{i:04d}"


def neighbour(i: int) -> str:
    """Resident r-i's neighbour volunteer's mobile."""
    return f"+8190444{i:04d}"


async def seed(url: str, n: int, *, outside: tuple[int, ...] = (), at_risk: tuple[int, ...] = (),
               neighbours: tuple[int, ...] = (), english: tuple[int, ...] = ()) -> None:
    """Residents r-1..r-n in Kanazawa (those in `outside` in Noto), each with a pendant and a
    daughter; `at_risk` have oxygen at home; `neighbours` have a neighbour volunteer first."""
    await create_schema(url)
    engine = make_engine(url)
    async with make_sessions(engine)() as s:
        for i in range(1, n + 1):
            s.add(Resident(id=f"r-{i}", name=f"住民 {i}", phone=phone(i), phone_type="landline",
                           address=f"{NOTO if i in outside else KANAZAWA}{i}-1",
                           oxygen_in_home=i in at_risk, language="en" if i in english else "ja"))
        await s.flush()
        for i in range(1, n + 1):
            s.add(Device(id=f"pendant-{i}", resident_id=f"r-{i}"))
            s.add(Contact(resident_id=f"r-{i}", name=f"家族 {i}", relation="family",
                          phone=daughter(i), phone_type="mobile", priority=2))
            if i in neighbours:
                s.add(Contact(resident_id=f"r-{i}", name=f"協力員 {i}", relation="neighbour",
                              phone=neighbour(i), phone_type="mobile", priority=1))
        await s.commit()
    await engine.dispose()


async def token(env: Env) -> str:
    """A fresh API token (names are unique)."""
    return await env.api_token(f"supervisor-{uuid.uuid4().hex[:8]}")


async def start(env: Env, body: dict[str, Any]) -> dict[str, Any]:
    """Start a sweep through the API; its JSON."""
    data: dict[str, Any] = await env.api_post(await token(env), "/sweeps", body)
    return data


async def control(env: Env, sweep_id: int, action: str) -> dict[str, Any]:
    """Pause, resume or stop a sweep through the API; its JSON."""
    data: dict[str, Any] = await env.api_post(await token(env), f"/sweeps/{sweep_id}/{action}")
    return data


async def get(env: Env, sweep_id: int) -> dict[str, Any]:
    """A sweep through the API."""
    headers = {"Authorization": f"Bearer {await token(env)}"}
    url = f"{env.settings.public_url}/api/v1/sweeps/{sweep_id}"
    async with env.http.get(url, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        data: dict[str, Any] = await resp.json()
        return data


async def finished(env: Env, sweep_id: int) -> dict[str, Any]:
    """The sweep through the API once finished: the runner's next look finishes it after its
    last resident settles, and the runner rests after each look (ticking.py)."""
    async def shown() -> dict[str, Any] | None:
        data = await get(env, sweep_id)
        return data if data["state"] == "finished" else None

    try:
        return await env.changes.until(shown)
    except TimeoutError:
        raise AssertionError(f"never finished: {await get(env, sweep_id)}") from None


async def entry(env: Env, resident_id: str) -> SweepEntry:
    """The resident's one sweep entry."""
    [row] = await env.rows(SweepEntry, resident_id=resident_id)
    return row


async def settled(env: Env, resident_id: str, state: str) -> SweepEntry | None:
    """The resident's entry once it is in `state`."""
    row = await entry(env, resident_id)
    return row if row.state == state else None


async def diagnosis(env: Env) -> str:
    """What the gateway sent and where each resident stands, for a failing story."""
    attempts = [(a.id, a.purpose, a.to_number, a.channel, a.priority, a.status)
                for a in await env.attempts()]
    entries = [(e.resident_id, e.state, e.tries) for e in await env.rows(SweepEntry)]
    return f"attempts: {attempts}\nentries: {entries}"
