"""The same alert's timeline in Debian's Chromium, read in Japanese and in English: people by
name (never `contact:1` or `operator:hanako`), channels and languages in the reader's words."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from alert_gateway.alerts import actions
from alert_gateway.alerts.opening import event
from alert_gateway.db.alerts import AckChannel, Alert, EventKind
from alert_gateway.db.escalation import Target
from alert_gateway.escalation.planner_types import Person
from alert_gateway.i18n.said import say, term
from alert_gateway.services import Services

from .browser import ARTIFACTS, own_contexts, served_console, sign_in
from .conftest import OPERATOR
from .factories import add_alert, add_resident

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the shared browser's loop


async def _worked_alert(services: Services) -> int:
    """An alert whose step called the son, which he took on the call; an operator took the case.
    Written by the code that writes them in service (the step's note as the planner words it)."""
    alert_id = await add_alert(services)
    now = services.clock.now()
    son = Person(Target.CONTACT, 1, "金沢 太郎", "+819011112222", relation="family")
    async with services.sessions() as session:
        alert = await session.get(Alert, alert_id)
        assert alert is not None
        session.add(event(alert, EventKind.ESCALATION_STEP, now=now, actor="system", said=say(
            "timeline.escalation.notifying", step=1, who=[son.with_role()],
            how=[term("channel.voice")], seconds=300)))
        await actions.acknowledge(session, alert_id=alert_id, actor="contact:1",
                                  channel=AckChannel.VOICE, now=now, contact_id=1)
        await actions.take(session, alert_id=alert_id, operator=OPERATOR, now=now)
        await session.commit()
    return alert_id


async def test_the_same_timeline_reads_in_japanese_and_in_english(
    browser: Browser, tmp_path: Path
) -> None:
    """An operator reads the alert in Japanese, switches her console to English and reads the
    same entries in English; names stay names."""
    ARTIFACTS.mkdir(exist_ok=True)
    async with served_console(tmp_path) as served, own_contexts(browser):
        await add_resident(served.services)
        alert_id = await _worked_alert(served.services)
        page = await sign_in(browser, served.base, OPERATOR)
        await page.goto(f"{served.base}/console/alerts/{alert_id}")
        timeline = page.locator("#timeline")
        await expect(timeline).to_contain_text(
            "ステップ 1: 金沢 太郎(家族) に 音声通話 で連絡中、300 秒待ちます")
        await expect(timeline).to_contain_text("金沢 太郎 が 音声通話 で応答しました")
        await expect(timeline).to_contain_text("山田 花子 が担当しました")
        await expect(timeline.locator("li[data-kind=opened]")).not_to_contain_text("alarm")
        await expect(timeline.locator("li[data-kind=acknowledged]")).to_contain_text("· 金沢 太郎 —")
        await expect(page.locator("main")).to_contain_text("日本語")  # the resident's language
        await page.screenshot(path=str(ARTIFACTS / "timeline-ja.png"), full_page=True)

        await page.get_by_role("button", name="English").click()
        await expect(page.locator("h2#h-timeline")).to_have_text("Timeline")
        await expect(timeline).to_contain_text(
            "step 1: notifying 金沢 太郎 (family) by voice; waiting 300 s")
        await expect(timeline).to_contain_text("acknowledged by 金沢 太郎 via voice")
        await expect(timeline).to_contain_text("taken by 山田 花子")
        await expect(page.locator("main")).to_contain_text("Japanese")
        for raw in ("contact:1", "operator:hanako", "device:pendant-001"):
            await expect(timeline).not_to_contain_text(raw)
        await page.screenshot(path=str(ARTIFACTS / "timeline-en.png"), full_page=True)
