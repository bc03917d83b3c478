"""Stories: the one-tap answer link in every alert SMS (Japan has no two-way SMS), through the
real gateway, its HTTP server and the fake Twilio."""

from __future__ import annotations

import re
from dataclasses import dataclass

import aiohttp

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import Alert, AnswerLink, Contact
from tests.harness import device_client

from .env import DAUGHTER, SON, Env, escalation_env, seed

LINK = re.compile(r"(http://[^\s]+/r/([A-Za-z0-9_-]+))")
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@dataclass
class Tap:
    """What one request to the answer page got back."""

    status: int
    html: str
    headers: dict[str, str]

    def __str__(self) -> str:  # shown when an assertion fails
        return f"HTTP {self.status}\n{self.html}"


async def _get(http: aiohttp.ClientSession, url: str) -> Tap:
    async with http.get(url) as resp:
        return Tap(resp.status, await resp.text(), dict(resp.headers))


async def _post(http: aiohttp.ClientSession, url: str, answer: str, csrf: str) -> Tap:
    async with http.post(url, data={"answer": answer, "csrf": csrf}) as resp:
        return Tap(resp.status, await resp.text(), dict(resp.headers))


def _phone() -> aiohttp.ClientSession:
    """A phone's browser: keeps the page's cookie (aiohttp drops cookies of bare IPs by default)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def _link_of(env: Env, number: str) -> str:
    """The answer link in the alert SMS sent to `number`."""
    await env.until_fake(lambda f: env.sent(number, "Messages"))
    body = env.sent(number, "Messages")[0].params["Body"][0]
    match = LINK.search(body)
    assert match is not None, body
    return match.group(1)


async def _alert(env: Env) -> Alert:
    alert = await env.changes.until(env.alert)
    assert alert is not None and alert.id is not None
    return alert


async def _sent_without(env: Env, token: str) -> bool:
    """The daughter's SMS row is recorded as sent, and no longer holds the link's token."""
    rows = await env.attempts(channel="sms", to_number=DAUGHTER)
    return bool(rows) and all(r.provider_sid and token not in (r.body or "") for r in rows)


async def _kinds(env: Env, alert_id: int) -> list[str]:
    return [e.kind for e in await env.timeline(alert_id)]


async def test_a_tap_on_the_sms_link_accepts_then_records_arrival(
    database_url: str, topic_root: str, clock: FakeClock
) -> None:
    """The daughter opens the link, taps 向かいます, then 到着しました: taken via link, device told."""
    await seed(database_url)
    async with escalation_env(database_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev, _phone() as phone:
        await env.control(f"/_fake/phones/{DAUGHTER}", {"call": "no-answer"})
        await dev.watch_feedback()
        await dev.alarm("pendant-1", "m-1", "sos")
        url = await _link_of(env, DAUGHTER)
        alert = await _alert(env)
        assert alert.id is not None
        [row] = await env.rows(AnswerLink)
        token = url.rsplit("/", 1)[1]
        assert token not in row.token_hash  # only the hash is stored ...
        await env.changes.until(lambda: _sent_without(env, token))  # ... once Twilio has the SMS

        page = await _get(phone, url)
        assert page.status == 200, page
        assert "山田 花子" in page.html and "向かいます" in page.html and "行けません" in page.html
        assert "<script" not in page.html and "到着しました" not in page.html
        assert "default-src 'self'" in page.headers["Content-Security-Policy"]
        assert page.headers["Referrer-Policy"] == "no-referrer"
        [csrf] = CSRF.findall(page.html)

        accepted = await _post(phone, url, "accept", csrf)
        assert accepted.status == 200, accepted
        assert "了解しました" in accepted.html and "到着しました" in accepted.html
        taken = await _alert(env)
        assert (taken.status, taken.ack_channel) == ("acknowledged", "link")
        assert taken.acknowledged_by == f"contact:{row.contact_id}"
        states = [await dev.next_feedback() for _ in range(3)]
        assert [s["state"] for _, s in states] == ["received", "acknowledged", "help_on_the_way"]

        arrived = await _post(phone, url, "arrive", csrf)
        assert arrived.status == 200 and "到着を記録しました" in arrived.html, arrived
        kinds = await _kinds(env, alert.id)
        assert kinds.count("acknowledged") == 1 and kinds.count("arrived") == 1, kinds
        assert env.sent(SON, "Messages") == []  # nobody else needs to be asked


async def test_a_preview_get_changes_nothing(
    sqlite_url: str, topic_root: str, clock: FakeClock
) -> None:
    """A link preview or mail scanner fetching the link (twice, no cookies) answers nothing; a
    client fetching on and on is slowed down with a plain 429 page."""
    await seed(sqlite_url)
    async with escalation_env(sqlite_url, topic_root, clock,
                              answer_page_requests_per_minute=4) as env, \
            device_client(topic_root, clock=clock) as dev, aiohttp.ClientSession() as scanner:
        await env.control(f"/_fake/phones/{DAUGHTER}", {"call": "no-answer"})
        await dev.alarm("pendant-1", "m-1", "sos")
        url = await _link_of(env, DAUGHTER)
        alert = await _alert(env)
        assert alert.id is not None
        before = await _kinds(env, alert.id)
        for _ in range(2):
            page = await _get(scanner, url)
            assert page.status == 200, page
        # A scanner that also submits the form has no cookie: refused, nothing changes.
        [csrf] = CSRF.findall(page.html)
        refused = await _post(scanner, url, "accept", csrf)
        assert refused.status == 403 and "もう一度" in refused.html, refused
        after = await _alert(env)
        assert (after.status, after.acknowledged_at) == ("open", None)
        assert await _kinds(env, alert.id) == before
        [row] = await env.rows(AnswerLink)
        assert row.answer is None

        await _get(scanner, url)  # the fourth request this minute: still served
        limited = await _get(scanner, url)
        assert limited.status == 429 and "アクセスが集中" in limited.html, limited
        assert limited.headers["Retry-After"] == "60"
        await clock.advance(61)
        assert (await _get(scanner, url)).status == 200


async def test_expired_foreign_and_replayed_links_are_refused(
    sqlite_url: str, topic_root: str, clock: FakeClock
) -> None:
    """Unknown, replayed, another link's form and expired links change nothing; plain pages only."""
    await seed(sqlite_url)
    async with escalation_env(sqlite_url, topic_root, clock, answer_link_hours=0.1) as env, \
            device_client(topic_root, clock=clock) as dev, _phone() as phone:
        await env.control(f"/_fake/phones/{DAUGHTER}", {"call": "no-answer"})
        await env.control(f"/_fake/phones/{SON}", {"call": "no-answer"})
        await dev.alarm("pendant-1", "m-1", "sos")
        url = await _link_of(env, DAUGHTER)
        alert = await _alert(env)
        assert alert.id is not None
        base = url.rsplit("/", 1)[0]

        for wrong in ("A" * 22, "not-a-token", "%00%ff"):
            page = await _get(phone, f"{base}/{wrong}")
            assert page.status == 404 and "無効" in page.html and "not valid" in page.html, page
            assert "Traceback" not in page.html

        [csrf] = CSRF.findall((await _get(phone, url)).html)
        declined = await _post(phone, url, "decline", csrf)
        assert declined.status == 200 and "次の方" in declined.html, declined
        replayed = await _post(phone, url, "decline", csrf)
        assert replayed.status == 409 and "すでに受け付けて" in replayed.html, replayed
        assert (await _kinds(env, alert.id)).count("contact_state") == 1

        # Once her unanswered call's re-dial is spent, the son's SMS has a link of its own. The
        # daughter's form (its CSRF token is bound to her link) cannot answer on his.
        await clock.advance(61)
        son_url = await _link_of(env, SON)
        foreign = await _post(phone, son_url, "accept", csrf)
        assert foreign.status == 403, foreign
        assert (await _alert(env)).acknowledged_at is None

        await clock.advance(minutes=6)  # past answer_link_hours (6 minutes) of the son's link
        expired = await _get(phone, son_url)
        assert expired.status == 410 and "有効期限" in expired.html, expired
        assert (await _alert(env)).acknowledged_at is None


async def test_a_closed_alert_says_who_took_it(
    sqlite_url: str, topic_root: str, clock: FakeClock
) -> None:
    """The son is recorded as taking it; once resolved, the daughter's link says no more is needed."""
    await seed(sqlite_url)
    async with escalation_env(sqlite_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev, _phone() as phone:
        await env.control(f"/_fake/phones/{DAUGHTER}", {"call": "no-answer"})
        await dev.alarm("pendant-1", "m-1", "sos")
        url = await _link_of(env, DAUGHTER)
        alert = await _alert(env)
        [csrf] = CSRF.findall((await _get(phone, url)).html)
        [son] = await env.rows(Contact, phone=SON)
        token = await env.api_token()
        await env.api_post(token, f"/alerts/{alert.id}/acknowledge", {"contact_id": son.id})
        taken = await _get(phone, url)
        assert "山田 一郎さんが" in taken.html and "向かいます" not in taken.html, taken
        await env.api_post(token, f"/alerts/{alert.id}/resolve", {"outcome": "family_attended"})
        closed = await _get(phone, url)
        assert closed.status == 200 and "これ以上の対応は不要です" in closed.html, closed
        assert "山田 一郎" in closed.html
        late = await _post(phone, url, "accept", csrf)
        assert late.status == 409 and "向かいます" not in late.html, late
        final = await _alert(env)
        assert (final.status, final.acknowledged_by) == ("resolved", "api:tester")
