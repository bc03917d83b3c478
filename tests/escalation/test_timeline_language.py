"""Story: after an escalation, the alert's timeline names people (never `contact:1`) and reads in
the reader's language, from the same stored entries."""

from __future__ import annotations

from typing import Any

from alert_gateway.clock import FakeClock
from alert_gateway.console import alert_data
from alert_gateway.db.models import Contact, EscalationState
from tests.harness import device_client

from .env import DAUGHTER, Env, escalation_env, seed


async def _timeline(env: Env, alert_id: int, lang: str) -> str:
    """The timeline as the alert view prints it: who, then what."""
    async with env.gateway.services.sessions() as session:
        page = await alert_data.load(session, alert_id=alert_id, zone="Asia/Tokyo")
    return "\n".join(f"{page.who(e.actor, lang)} — {page.text(e, lang)}" for e in page.timeline)


async def _watching(env: Env, alert_id: int) -> bool:
    return (await env.escalation(alert_id)).state == EscalationState.WATCHING.value


async def _started(env: Env, dev: Any) -> int:
    await dev.alarm("pendant-1", "m-1", "sos")
    await env.until_fake(lambda f: bool(env.sent(DAUGHTER, "Calls")))
    alert = await env.changes.until(env.alert)
    assert alert is not None and alert.id is not None
    return alert.id


async def test_timeline_names_the_daughter_in_japanese_and_english(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """The daughter presses 1: the timeline says who was called and who took it by name, in
    Japanese for a Japanese reader and in English for an English one; a renamed contact shows
    by her new name (the text is rendered when read, not when written)."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control(f"/_fake/phones/{DAUGHTER}", {"press": "1"})
        alert_id = await _started(env, dev)
        await env.changes.until(lambda: _watching(env, alert_id))
        ja, en = await _timeline(env, alert_id, "ja"), await _timeline(env, alert_id, "en")
        assert "contact:" not in ja + en, ja + en
        assert "ステップ 4: 山田 京子(家族) に 音声通話、SMS で連絡中" in ja, ja
        assert "ステップ 2(連絡先それぞれ)を飛ばしました: 日中だけのステップで、今は夜間です" in ja, ja
        assert "山田 京子 — 山田 京子 が 音声通話 で応答しました" in ja, ja
        assert "step 4: notifying 山田 京子 (family) by voice, SMS" in en, en
        assert "step 2 (each contact) skipped: it runs only in the daytime, and it is night" in en
        assert "山田 京子 — acknowledged by 山田 京子 via voice" in en, en

        async with env.gateway.services.sessions() as session:
            daughter = await session.get(Contact, 1)
            assert daughter is not None
            daughter.name = "佐藤 京子"  # married since
            await session.commit()
        assert "佐藤 京子 が 音声通話 で応答しました" in await _timeline(env, alert_id, "ja")
