"""Stories: a sweep's message also goes as an SMS with a one-tap answer link, in the resident's
language; a tap counts exactly as a key on the call, through the real gateway, its answer page
and the fake Twilio."""

from __future__ import annotations

import re
from dataclasses import dataclass

import aiohttp

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import Alert, NotificationAttempt, Resident, Sweep, SweepEntry
from tests.escalation.env import Env, escalation_env
from tests.sweep import env as sweep_env
from tests.sweep.env import diagnosis, phone, settled

LINK = re.compile(r"(http://\S+/r/[A-Za-z0-9_-]+)")
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def mobile(i: int) -> str:
    """Resident r-i's own mobile (the seed gives everyone a landline)."""
    return f"+8190777{i:04d}"


async def _give_mobiles(env: Env, *numbers: int) -> None:
    async with env.gateway.services.sessions() as s:
        for i in numbers:
            resident = await s.get(Resident, f"r-{i}")
            assert resident is not None
            resident.phone, resident.phone_type = mobile(i), "mobile"
        await s.commit()


@dataclass
class Tap:
    """What one request to the answer page got back."""

    status: int
    html: str

    def __str__(self) -> str:  # shown when an assertion fails
        return f"HTTP {self.status}\n{self.html}"


class Handset:
    """The resident's phone browser: keeps the page's cookie, posts the page's form."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http
        self.csrf = ""  # the form's token of the page last opened with buttons

    async def open(self, url: str) -> Tap:
        async with self.http.get(url) as resp:
            page = Tap(resp.status, await resp.text())
        self.csrf = next(iter(CSRF.findall(page.html)), self.csrf)
        return page

    async def tap(self, url: str, answer: str) -> Tap:
        """Open the link, then press the button `answer` (fine or help)."""
        page = await self.open(url)
        assert page.status == 200, page
        return await self.post(url, answer)

    async def post(self, url: str, answer: str) -> Tap:
        """Post the last form again (a replay, or a second tab)."""
        async with self.http.post(url, data={"answer": answer, "csrf": self.csrf}) as resp:
            return Tap(resp.status, await resp.text())


def _handset() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # bare IP cookies


async def _sms_to(env: Env, number: str) -> str:
    """The one sweep SMS sent to `number`."""
    await env.until_fake(lambda f: env.sent(number, "Messages"))
    [sent] = env.sent(number, "Messages")
    body: str = sent.params["Body"][0]
    return body


def _link(body: str) -> str:
    match = LINK.search(body)
    assert match is not None, body
    return match.group(1)


async def _waiting_for_retry(env: Env, resident_id: str) -> SweepEntry | None:
    row = await sweep_env.entry(env, resident_id)
    return row if row.state == "waiting" and row.tries == 1 else None


async def _finished(env: Env, sweep_id: int) -> Sweep | None:
    [sweep] = await env.rows(Sweep, id=sweep_id)
    return sweep if sweep.state == "finished" else None


async def _sms_failed(env: Env, number: str) -> NotificationAttempt | None:
    rows = await env.attempts(channel="sms", to_number=number)
    return rows[0] if rows and rows[0].status == "failed" else None


async def test_a_sweep_texts_mobiles_in_their_language_and_a_tap_on_fine_ends_the_tries(
        database_url: str, topic_root: str, clock: FakeClock) -> None:
    """r-1 (Japanese, mobile) misses the call and taps 無事です: fine, no retry call. r-2
    (English, mobile) gets the English text, which fails, and still answers the call with 1.
    r-3 has a landline only: a call and no SMS."""
    await sweep_env.seed(database_url, 3, english=(2,))
    async with escalation_env(database_url, topic_root, clock) as env, _handset() as http:
        await _give_mobiles(env, 1, 2)
        await env.control(f"/_fake/phones/{mobile(1)}", {"call": "no-answer"})
        await env.control(f"/_fake/phones/{mobile(2)}", {"press": "1", "sms": "failed"})
        await env.control(f"/_fake/phones/{phone(3)}", {"press": "1"})
        sweep = await sweep_env.start(env, {})
        try:
            ja = await _sms_to(env, mobile(1))
            en = await _sms_to(env, mobile(2))
            await env.changes.until(lambda: _waiting_for_retry(env, "r-1"))
            by_call = await env.changes.until(lambda: settled(env, "r-2", "fine"))
            await env.changes.until(lambda: settled(env, "r-3", "fine"))
            assert await env.changes.until(lambda: _sms_failed(env, mobile(2)))
        except TimeoutError:
            raise AssertionError(await diagnosis(env)) from None
        assert ja.startswith("【安否確認】") and "災害時の安否確認" in ja and "無事です" in ja, ja
        assert en.startswith("[Safety check] This is") and "I'm fine" in en, en
        assert by_call.answered_by == "call"
        assert env.sent(phone(3), "Messages") == [] and len(env.sent(phone(3), "Calls")) == 1

        handset = Handset(http)
        page = await handset.open(_link(ja))
        assert page.status == 200 and "災害時の安否確認" in page.html, page
        assert "無事です" in page.html and "助けが必要です" in page.html, page
        tapped = await handset.tap(_link(ja), "fine")
        assert tapped.status == 200 and "「無事です」と受け付けました" in tapped.html, tapped
        assert 'name="answer"' not in tapped.html  # no buttons once answered
        entry = await env.changes.until(lambda: settled(env, "r-1", "fine"))
        assert (entry.answered_by, entry.tries, entry.alert_id) == ("link", 1, None)
        assert await env.changes.until(lambda: _finished(env, sweep["id"]))

        await clock.advance(15 * 60)  # past the retry r-1 would have had
        await env.gateway.workers.sweep.tick(clock.now())
        assert len(await env.attempts(channel="voice", to_number=mobile(1))) == 1
        again = await handset.post(_link(ja), "help")  # a second tab's form acts no more
        assert again.status == 409, again
        replayed = await handset.post(_link(ja), "fine")
        assert replayed.status == 409 and "すでに受け付けて" in replayed.html, replayed
        assert (await sweep_env.entry(env, "r-1")).state == "fine"
        assert await env.rows(Alert) == []
        shown = await sweep_env.get(env, sweep["id"])
        assert {k: v for k, v in shown["counts"].items() if v} == {"fine": 3}


async def test_a_tap_on_help_raises_the_p1_that_pressing_9_raises(
        sqlite_url: str, topic_root: str, clock: FakeClock) -> None:
    """r-1 misses the call and taps 助けが必要です: the sweep's P1 alert, its timeline saying how;
    r-2 presses 9 on the call: the same P1."""
    await sweep_env.seed(sqlite_url, 2)
    async with escalation_env(sqlite_url, topic_root, clock) as env, _handset() as http:
        await _give_mobiles(env, 1)
        await env.control(f"/_fake/phones/{mobile(1)}", {"call": "no-answer"})
        await env.control(f"/_fake/phones/{phone(2)}", {"press": "9"})
        await sweep_env.start(env, {})
        try:
            url = _link(await _sms_to(env, mobile(1)))
            await env.changes.until(lambda: _waiting_for_retry(env, "r-1"))
            pressed = await env.changes.until(lambda: settled(env, "r-2", "help"))
        except TimeoutError:
            raise AssertionError(await diagnosis(env)) from None
        tapped = await Handset(http).tap(url, "help")
        assert tapped.status == 200 and "センターからすぐにご連絡します" in tapped.html, tapped
        try:
            entry = await env.changes.until(lambda: settled(env, "r-1", "help"))
        except TimeoutError:  # seen once in 11 runs under -n 2, not reproduced: say where it stood
            raise AssertionError(await diagnosis(env)) from None
        assert entry.answered_by == "link" and entry.alert_id is not None
        [by_link] = await env.rows(Alert, id=entry.alert_id)
        [by_key] = await env.rows(Alert, id=pressed.alert_id)
        assert (by_link.type, by_link.severity, by_link.resident_id) == ("sweep_help", "P1", "r-1")
        assert (by_key.type, by_key.severity) == (by_link.type, by_link.severity)
        messages = [e.message for e in await env.timeline(entry.alert_id)]
        assert any("sweep SMS link" in (m or "") for m in messages), messages


async def test_an_expired_or_unknown_sweep_link_is_refused(
        sqlite_url: str, topic_root: str, clock: FakeClock) -> None:
    """Past answer_link_hours an unanswered resident's link is a plain 410 page; a token that is
    nobody's is 404; neither changes the entry."""
    await sweep_env.seed(sqlite_url, 1)
    async with escalation_env(sqlite_url, topic_root, clock, answer_link_hours=0.1) as env, \
            _handset() as http:
        await _give_mobiles(env, 1)
        await env.control(f"/_fake/phones/{mobile(1)}", {"call": "no-answer"})
        await sweep_env.start(env, {})
        url = _link(await _sms_to(env, mobile(1)))
        await env.changes.until(lambda: _waiting_for_retry(env, "r-1"))
        await clock.advance(7 * 60)  # past the link's 6 minutes, before the 10-minute retry
        expired = await Handset(http).open(url)
        assert expired.status == 410 and "有効期限" in expired.html, expired
        unknown = await Handset(http).open(url.rsplit("/", 1)[0] + "/" + "A" * 22)
        assert unknown.status == 404, unknown
        assert (await sweep_env.entry(env, "r-1")).state == "waiting"
