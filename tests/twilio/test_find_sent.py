"""find_sent: asking Twilio's lists whether a message or call went out, against the fake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp

from alert_gateway.twilio.fake_state import FakeTwilio

from .conftest import ACCOUNT_SID, AUTH_TOKEN, GATEWAY_NUMBER, Env

TO = "+819012345678"
OTHER = "+819087654321"
BODY = "【緊急】山田花子さんの見守り端末から通報がありました。"
AN_HOUR_AGO = datetime.now(UTC) - timedelta(hours=1)


def seen(fake: FakeTwilio) -> str:
    """The fake's recorded API requests, for a failing assertion."""
    return "\n".join(f"{r.method} {r.url} -> {r.status}" for r in fake.api_requests())


async def sms(env: Env, to: str, body: str) -> str:
    """Send one SMS through the sender; its sid."""
    result = await env.sender.send_sms(to=to, body=body, status_callback=env.hooks_url + "/t/s")
    return result.sid


async def test_a_message_is_found_by_number_and_body(env: Env) -> None:
    """Only the message to that number with that body is found, with its status."""
    sid = await sms(env, TO, BODY)
    await sms(env, TO, "another text")
    await sms(env, OTHER, BODY)
    found = await env.sender.find_sent(voice=False, to=TO, body=BODY, since=AN_HOUR_AGO)
    assert [f.sid for f in found] == [sid], seen(env.fake)
    assert found[0].status in ("queued", "sent", "delivered")
    (lookup,) = [r for r in env.fake.api_requests("Messages") if r.method == "GET"]
    assert lookup.params["To"] == [TO] and lookup.params["From"] == [GATEWAY_NUMBER]


async def test_nothing_made_before_since_is_found(env: Env) -> None:
    """A message older than `since` belongs to an earlier attempt and is not found."""
    await sms(env, TO, BODY)
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert await env.sender.find_sent(voice=False, to=TO, body=BODY, since=later) == []


async def test_calls_are_found_by_number_newest_first(env: Env) -> None:
    """Calls to the number come back newest first; calls to others do not."""
    sids = []
    for to in (TO, OTHER, TO):
        result = await env.sender.place_call(to=to, twiml="<Response/>",
                                             status_callback=env.hooks_url + "/t/v",
                                             amd_callback=env.hooks_url + "/t/a")
        sids.append(result.sid)
    found = await env.sender.find_sent(voice=True, to=TO, body=None, since=AN_HOUR_AGO)
    assert [f.sid for f in found] == [sids[2], sids[0]], seen(env.fake)


async def test_the_fake_lists_like_twilio(env: Env) -> None:
    """GET Messages.json?To= is one page under "messages", filtered, newest first."""
    first = await sms(env, TO, "one")
    second = await sms(env, TO, "two")
    await sms(env, OTHER, "three")
    url = f"{env.fake_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    async with aiohttp.ClientSession() as session:
        async with session.get(url, params={"To": TO, "PageSize": "1"},
                               auth=aiohttp.BasicAuth(ACCOUNT_SID, AUTH_TOKEN)) as resp:
            assert resp.status == 200
            page = await resp.json()
    assert [m["sid"] for m in page["messages"]] == [second]
    assert page["page_size"] == 1
    assert first in env.fake.messages
