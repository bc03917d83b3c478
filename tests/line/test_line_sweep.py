"""Story: a resident links their own LINE with a code from the console; a disaster sweep's
message then reaches them on LINE too, and a tap on 無事です counts as pressing 1."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import Resident
from tests.sweep import env as sweep_env
from tests.sweep.env import diagnosis, phone, settled

from .env import LineEnv, line_env
from .test_line_linking import _supervisor

RESIDENT_LINE = "U" + "e" * 32


async def _resident(le: LineEnv, resident_id: str) -> Resident:
    [row] = await le.env.rows(Resident, id=resident_id)
    return row


async def test_a_resident_linked_on_line_answers_the_sweep_with_a_button(
        database_url: str, topic_root: str, clock: FakeClock, tmp_path: Path) -> None:
    """r-1 (landline, so no SMS) links LINE with the console's code, misses the sweep call and
    taps 無事です under the sweep's LINE message: fine, answered by LINE; a second tap changes
    nothing, and the resident's page shows how they answered."""
    await sweep_env.seed(database_url, 2)
    async with line_env(database_url, topic_root, clock, tmp_path) as le, \
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        env = le.env
        csrf = await _supervisor(le, http)
        page_url = f"{env.settings.public_url}/console/residents/r-1/line"
        async with http.post(page_url, data={"csrf_token": csrf, "action": "code"}) as resp:
            page = await resp.text()
        found = re.search(r'id="line-code"[^>]*>([A-Z0-9]{4}-[A-Z0-9]{4})<', page)
        assert resp.status == 200 and found, page
        await le.act(RESIDENT_LINE, "follow", {"label": "住民 1"})
        assert await le.act(RESIDENT_LINE, "text", {"text": found[1]}) == [
            "連携しました。災害時の安否確認をこのLINEでもお届けします"]
        assert (await _resident(le, "r-1")).line_user_id == RESIDENT_LINE

        await env.control(f"/_fake/phones/{phone(1)}", {"call": "no-answer"})
        await env.control(f"/_fake/phones/{phone(2)}", {"press": "1"})
        await sweep_env.start(env, {"message_ja": "地震がありました。ご無事ですか。"})
        pushed = await le.line.wait_for(lambda f: f.from_bot(RESIDENT_LINE, "push")[1:],
                                        timeout=15)
        text, asked = le.line.from_bot(RESIDENT_LINE, "push")[:2]
        assert text.text == "【安否確認】地震がありました。ご無事ですか。", pushed
        assert [b["label"] for b in asked.buttons] == ["無事です", "助けが必要です"]
        try:
            await env.changes.until(lambda: settled(env, "r-2", "fine"))
            await env.until_fake(lambda f: [c for c in f.calls.values()
                                            if c.to == phone(1) and c.status == "no-answer"])
        except TimeoutError:
            raise AssertionError(await diagnosis(env)) from None

        [fine] = [b for b in asked.buttons if b["label"] == "無事です"]
        assert await le.act(RESIDENT_LINE, "tap", fine) == [
            "「無事です」と受け付けました。ありがとうございます。"]
        entry = await env.changes.until(lambda: settled(env, "r-1", "fine"))
        assert (entry.answered_by, entry.alert_id) == ("line", None)
        [help_] = [b for b in asked.buttons if b["label"] == "助けが必要です"]
        await le.act(RESIDENT_LINE, "tap", help_)  # a second tap: the first answer stands
        assert (await sweep_env.entry(env, "r-1")).state == "fine"
        assert env.sent(phone(1), "Messages") == []  # a landline: no SMS

        async with http.get(f"{env.settings.public_url}/console/residents/r-1") as resp:
            history = (await resp.text()).split('id="sweeps"')[1].split("</section>")[0]
        assert "無事" in history and "LINE" in history, history
