"""What the sweep queues besides each call (an SMS with a link, a LINE message), and what a tap
before the call goes out does to it; no gateway."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest_asyncio
from sqlmodel import col, select

from alert_gateway.db.engine import SessionFactory, make_engine, make_sessions
from alert_gateway.db.models import AnsweredBy, NotificationAttempt, Resident, SweepEntry, SweepLink
from alert_gateway.metrics import Metrics
from alert_gateway.settings import Settings
from alert_gateway.sweep import calls, outcomes, starting
from alert_gateway.wellbeing.check_call import CHECK_PRIORITY, CheckAnswer
from tests.conftest import create_schema

NOW = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)
LINE_USER = "U" + "f" * 32


@pytest_asyncio.fixture
async def swept(database_url: str) -> AsyncIterator[SessionFactory]:
    """r-1 a Japanese mobile, r-2 an English mobile with LINE, r-3 a landline; a sweep of all."""
    await create_schema(database_url)
    engine = make_engine(database_url)
    sessions = make_sessions(engine)
    async with sessions() as s:
        s.add(Resident(id="r-1", name="一", phone="+819077770001", phone_type="mobile"))
        s.add(Resident(id="r-2", name="二", phone="+819077770002", phone_type="mobile",
                       language="en", line_user_id=LINE_USER))
        s.add(Resident(id="r-3", name="三", phone="+81762000003", phone_type="landline"))
        await s.flush()
        await starting.start(s, area_prefix=None, message_ja="地震です。", message_en="Quake.",
                             actor="test", now=NOW)
        await s.commit()
    yield sessions
    await engine.dispose()


async def _place(sessions: SessionFactory, settings: Settings) -> None:
    async with sessions() as s:
        await calls.place_next(s, now=NOW, settings=settings, metrics=Metrics(), lock_rows=False)
        await s.commit()


async def _sent(sessions: SessionFactory) -> list[tuple[str, str]]:
    async with sessions() as s:
        rows = (await s.exec(select(NotificationAttempt).order_by(col(NotificationAttempt.id)))).all()
    return [(a.to_number[-1], a.channel) for a in rows]


async def test_the_first_try_texts_mobiles_and_line_once_and_a_retry_calls_only(
        swept: SessionFactory, database_url: str) -> None:
    """Calls for all three; SMS in each mobile's language with a link whose token is not
    stored; LINE with fine / help for the linked one; nothing besides the call on a retry."""
    settings = Settings(database_url=database_url, public_url="https://gw.example.jp")
    await _place(swept, settings)
    assert await _sent(swept) == [("1", "voice"), ("1", "sms"), ("2", "voice"), ("2", "sms"),
                                  ("2", "line"), ("3", "voice")]
    async with swept() as s:
        texts = (await s.exec(select(NotificationAttempt).where(
            NotificationAttempt.channel != "voice").order_by(col(NotificationAttempt.id)))).all()
        hashes = {h for h in (await s.exec(select(SweepLink.token_hash))).all()}
    ja, en, line = (t.body or "" for t in texts)
    assert ja.startswith("【安否確認】地震です。") and "https://gw.example.jp/r/" in ja
    assert en.startswith("[Safety check] Quake.") and "https://gw.example.jp/r/" in en
    assert len(hashes) == 2 and not any(h in ja or h in en for h in hashes)
    assert {(t.purpose, t.priority, t.alert_id) for t in texts} == {("sweep", CHECK_PRIORITY, None)}
    spec = json.loads(line)
    assert (spec["to"], spec["answers"], spec["text"]) == (LINE_USER, ["fine", "help"],
                                                           "[Safety check] Quake.")

    async with swept() as s:  # r-2's call went unanswered: its retry is due
        entry = (await s.exec(select(SweepEntry).where(SweepEntry.resident_id == "r-2"))).one()
        entry.state, entry.due_at = "waiting", None
        await s.commit()
    await _place(swept, settings)
    assert (await _sent(swept))[6:] == [("2", "voice")]


async def test_a_tap_before_the_call_goes_out_cancels_it(
        swept: SessionFactory, database_url: str) -> None:
    """r-1 taps 無事です while their call still waits in the outbox: fine, and it is never
    placed; the call's own key would change nothing now."""
    await _place(swept, Settings(database_url=database_url))
    async with swept() as s:
        entry = (await s.exec(select(SweepEntry).where(SweepEntry.resident_id == "r-1"))).one()
        changes = await outcomes.answer(s, entry, CheckAnswer.FINE, by=AnsweredBy.LINK, now=NOW,
                                        metrics=Metrics())
        await s.commit()
        call = await s.get(NotificationAttempt, entry.attempt_id)
        assert changes == [] and call is not None and call.status == "canceled"
        assert (entry.state, entry.answered_by, entry.answered_at) == ("fine", "link", NOW)
        again = await outcomes.answer(s, entry, CheckAnswer.HELP, by=AnsweredBy.CALL, now=NOW,
                                      metrics=Metrics())
        assert again == [] and entry.state == "fine"
