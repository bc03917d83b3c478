"""Story: a supervisor issues a LINE link code on the console; the contact sends it on LINE."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp

from alert_gateway.clock import FakeClock
from alert_gateway.console import accounts
from alert_gateway.db.auth import Role
from alert_gateway.db.models import Contact

from .env import LineEnv, line_env, seed_line

NEIGHBOUR_LINE = "U" + "a" * 32
STRANGER_LINE = "U" + "b" * 32
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _supervisor(le: LineEnv, http: aiohttp.ClientSession) -> str:
    """Sign a supervisor in on the gateway's console; returns the session's CSRF token."""
    services = le.env.gateway.services
    async with services.sessions() as session:
        await accounts.create(session, name="sato", role=Role.SUPERVISOR, password="correct-horse-1",
                              now=services.clock.now(), display_name="佐藤 主任")
        await session.commit()
    base = le.env.settings.public_url
    for path, form in (("/console/login", {"name": "sato", "password": "correct-horse-1"}),
                       ("/console/", None)):
        async with http.get(base + path) as resp:
            found = CSRF.search(await resp.text())
        assert found, path
        if form is not None:
            async with http.post(base + path, data={**form, "csrf_token": found[1]},
                                 allow_redirects=False) as resp:
                assert resp.status == 303, await resp.text()
    return found[1]


async def _neighbour(le: LineEnv) -> Contact:
    [row] = await le.env.rows(Contact, relation="neighbour")
    return row


async def test_a_contact_links_line_with_the_console_code_and_blocking_unlinks(
        sqlite_url: str, topic_root: str, clock: FakeClock, tmp_path: Path) -> None:
    """The code from the console links the neighbour's account once (typed in lower case and
    full-width); a wrong code and the same code from another account do not; blocking unlinks."""
    await seed_line(sqlite_url)
    async with line_env(sqlite_url, topic_root, clock, tmp_path) as le, \
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await _supervisor(le, http)
        page_url = f"{le.env.settings.public_url}/console/contacts/{(await _neighbour(le)).id}/line"
        async with http.post(page_url, data={"csrf_token": csrf, "action": "code"}) as resp:
            page = await resp.text()
        assert resp.status == 200 and "LINE未連携" in page, page
        found = re.search(r'id="line-code"[^>]*>([A-Z0-9]{4}-[A-Z0-9]{4})<', page)
        assert found, page
        code = found[1]

        [welcome] = await le.act(NEIGHBOUR_LINE, "follow", {"label": "隣 太郎"})
        assert "連携コード" in welcome and "link code" in welcome
        assert await le.act(NEIGHBOUR_LINE, "text", {"text": "ZZZZ-ZZZZ"}) == [
            "連携コードが正しくないか、期限切れです。センターにお問い合わせください"]
        typed = code.lower().translate(str.maketrans("abcdefghjkmnpqrstuvwxyz23456789",
                                                     "ａｂｃｄｅｆｇｈｊｋｍｎｐｑｒｓｔｕｖｗｘｙｚ２３４５６７８９"))
        assert await le.act(NEIGHBOUR_LINE, "text", {"text": typed}) == [
            "連携しました。山田 花子さんの緊急通報をこのLINEでお知らせします"]
        assert (await _neighbour(le)).line_user_id == NEIGHBOUR_LINE
        [refused] = await le.act(STRANGER_LINE, "text", {"text": code})
        assert "正しくない" in refused and (await _neighbour(le)).line_user_id == NEIGHBOUR_LINE
        async with http.get(page_url) as resp:
            assert "LINE連携済み" in await resp.text()

        assert await le.act(NEIGHBOUR_LINE, "unfollow") == []
        assert (await _neighbour(le)).line_user_id is None
