"""Key-safe codes and medical notes are sealed at rest, on both databases, and keys rotate."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from alert_gateway.clock import FakeClock
from alert_gateway.db import sealed
from alert_gateway.db.engine import SessionFactory
from alert_gateway.privacy import keys
from alert_gateway.residents import service
from alert_gateway.residents.schemas import ResidentIn

CODE, NOTES = "4711", "糖尿病・インスリン注射"
CLEAR = {"key_safe_code": CODE, "medical_notes": NOTES, "access_notes": "裏口の植木鉢",
         "risk_notes": "夜間に徘徊"}
KEY_A, KEY_B = sealed.new_key(), sealed.new_key()


async def add_resident(sessions: SessionFactory, clock: FakeClock) -> None:
    """One resident with every sealed field filled in."""
    async with sessions() as s:
        await service.create(s, data=ResidentIn(id="r-1", name="山田 花子", **CLEAR), now=clock.now())
        await s.commit()


async def raw_row(engine: AsyncEngine) -> dict[str, str]:
    """The sealed columns as the database holds them, read with plain SQL."""
    async with engine.connect() as conn:
        row = (await conn.execute(text(
            "SELECT key_safe_code, medical_notes, access_notes, risk_notes FROM resident"))).one()
    return dict(row._mapping)


async def read_back(sessions: SessionFactory) -> dict[str, str | None]:
    """The sealed fields as the gateway reads them."""
    async with sessions() as s:
        resident = await service.get(s, resident_id="r-1")
    return {name: getattr(resident, name) for name in CLEAR}


async def test_raw_rows_hold_no_code_or_note_in_clear(sessions: SessionFactory,
                                                      clock: FakeClock) -> None:
    """A plain SELECT sees Fernet tokens only, while the service reads the clear text back."""
    await add_resident(sessions, clock)
    raw = await raw_row(sessions.kw["bind"])
    for name, value in raw.items():
        assert value.startswith(sealed.TOKEN_PREFIX), f"{name} not sealed: {value[:12]}…"
        assert CLEAR[name] not in value
    assert await read_back(sessions) == CLEAR


async def test_rotation_reseals_with_the_new_key_and_old_rows_stay_readable(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """New key first, old key after: old rows open; after rotate-key the old key can go."""
    sealed.use_keys([KEY_A])
    await add_resident(sessions, clock)
    before = await raw_row(sessions.kw["bind"])
    sealed.use_keys([KEY_B, KEY_A])
    assert await read_back(sessions) == CLEAR
    assert await keys.rotate(sessions.kw["bind"]) == 1
    sealed.use_keys([KEY_B])
    after = await raw_row(sessions.kw["bind"])
    assert all(after[n] != before[n] for n in CLEAR), "rotation left a value sealed with key A"
    assert await read_back(sessions) == CLEAR


async def test_rotation_seals_rows_stored_in_clear(sessions: SessionFactory,
                                                   clock: FakeClock) -> None:
    """A row written before encryption reads as it is, and rotate-key seals it."""
    engine = sessions.kw["bind"]
    await add_resident(sessions, clock)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE resident SET key_safe_code = :code"), {"code": CODE})
    assert (await read_back(sessions))["key_safe_code"] == CODE
    await keys.rotate(engine)
    assert (await raw_row(engine))["key_safe_code"].startswith(sealed.TOKEN_PREFIX)
    assert await read_back(sessions) == CLEAR


async def test_a_wrong_key_shows_unreadable_instead_of_failing(sessions: SessionFactory,
                                                              clock: FakeClock) -> None:
    """With a key that does not open the rows, the card still loads and says why a field is blank."""
    await add_resident(sessions, clock)
    sealed.use_keys([KEY_B])
    assert set((await read_back(sessions)).values()) == {sealed.UNREADABLE}
