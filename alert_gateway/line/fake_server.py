"""A LINE-Messaging-API-compatible server for tests, demos and drills.

The SDK's subset: POST /v2/bot/message/push (with X-Line-Retry-Key: a repeated key gets 409 and
x-line-accepted-request-id, as LINE answers) and /v2/bot/message/reply (a reply token works
once). Control API under /_fake/line/: people follow, block, send text and tap buttons, each a
signed webhook to the gateway. GET / is a page of every account's chat with tappable buttons.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources

import aiohttp
from aiohttp import web

from ..twilio.fake_control import json_object
from .fake_state import FakeLine, FakeLineMessage

FAKE_LINE_KEY = web.AppKey("fake_line", FakeLine)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def line_error(status: int, message: str) -> web.Response:
    """An error body shaped like LINE's."""
    return web.json_response({"message": message}, status=status)


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bearer auth and injected failures for the API paths."""
    if not request.path.startswith("/v2/bot/"):
        return await handler(request)
    fake = request.app[FAKE_LINE_KEY]
    if request.headers.get("Authorization") != f"Bearer {fake.access_token}":
        return line_error(401, "Authentication failed. Confirm that the access token in the "
                               "authorization header is valid.")
    if fake.fail_statuses:
        return line_error(fake.fail_statuses.pop(0), "Injected failure")
    return await handler(request)


def _sent(records: list[FakeLineMessage], request_id: str) -> web.Response:
    return web.json_response(
        {"sentMessages": [{"id": r.id, "quoteToken": secrets.token_urlsafe(16)} for r in records]},
        headers={"x-line-request-id": request_id})


async def push(request: web.Request) -> web.Response:
    """POST /v2/bot/message/push {to, messages}: deliver to a following account."""
    fake, data = request.app[FAKE_LINE_KEY], await json_object(request)
    key = request.headers.get("X-Line-Retry-Key")
    if key and key in fake.retry_keys:
        return web.json_response({"message": "The retry key is already accepted"}, status=409,
                                 headers={"x-line-accepted-request-id": fake.retry_keys[key]})
    to, messages = str(data.get("to", "")), data.get("messages") or []
    account = fake.users.get(to)
    if account is None or not account.following:
        return line_error(400, "Failed to send messages")  # unknown, or it blocked the bot
    if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
        return line_error(400, "The request body has 1 error(s)")
    request_id = secrets.token_hex(16)
    records = [fake.add_bot_message(to, "push", m) for m in messages]
    if key:
        fake.retry_keys[key] = request_id
    await fake.changed()
    return _sent(records, request_id)


async def reply(request: web.Request) -> web.Response:
    """POST /v2/bot/message/reply {replyToken, messages}: a token works once."""
    fake, data = request.app[FAKE_LINE_KEY], await json_object(request)
    user_id = fake.reply_tokens.pop(str(data.get("replyToken", "")), None)
    if user_id is None:
        return line_error(400, "Invalid reply token")
    records = [fake.add_bot_message(user_id, "reply", m) for m in data.get("messages") or []]
    await fake.changed()
    return _sent(records, secrets.token_hex(16))


def _replies(found: list[FakeLineMessage]) -> web.Response:
    return web.json_response({"replies": [m.view() for m in found]},
                             dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def follow(request: web.Request) -> web.Response:
    """POST /_fake/line/users/{user}/follow {"label"?}: the person adds the official account."""
    fake, user_id = request.app[FAKE_LINE_KEY], request.match_info["user"]
    label = (await json_object(request)).get("label")
    if label:
        fake.user(user_id).label = str(label)
    return _replies(await fake.event(user_id, "follow", follow={"isUnblocked": False}))


async def unfollow(request: web.Request) -> web.Response:
    """POST /_fake/line/users/{user}/unfollow: the person blocks the official account."""
    fake, user_id = request.app[FAKE_LINE_KEY], request.match_info["user"]
    return _replies(await fake.event(user_id, "unfollow"))


async def text(request: web.Request) -> web.Response:
    """POST /_fake/line/users/{user}/text {"text"}: the person sends a message."""
    fake, user_id = request.app[FAKE_LINE_KEY], request.match_info["user"]
    said = str((await json_object(request)).get("text", ""))
    fake.messages.append(FakeLineMessage(secrets.token_hex(8), user_id, "user", "text", said))
    message = {"type": "text", "id": secrets.token_hex(8), "text": said,
               "quoteToken": secrets.token_urlsafe(16)}
    return _replies(await fake.event(user_id, "message", message=message))


async def tap(request: web.Request) -> web.Response:
    """POST /_fake/line/users/{user}/tap {"data", "label"?}: the person taps a button."""
    fake, user_id = request.app[FAKE_LINE_KEY], request.match_info["user"]
    data = await json_object(request)
    label = str(data.get("label") or "")
    if label:
        fake.messages.append(FakeLineMessage(secrets.token_hex(8), user_id, "user", "postback", label))
    return _replies(await fake.event(user_id, "postback", postback={"data": str(data.get("data", ""))}))


async def fail(request: web.Request) -> web.Response:
    """POST /_fake/line/fail {"status", "count"?}: the next API requests answer `status`."""
    fake, data = request.app[FAKE_LINE_KEY], await json_object(request)
    try:
        statuses = [int(data["status"])] * int(data.get("count", 1))
    except (KeyError, TypeError, ValueError) as exc:
        raise web.HTTPBadRequest(text=f"status and count: {exc}") from exc
    fake.fail_statuses.extend(statuses)
    return web.json_response({"queued": len(fake.fail_statuses)})


async def chats(request: web.Request) -> web.Response:
    """GET /_fake/line/chats: every account with its chat, oldest message first."""
    fake = request.app[FAKE_LINE_KEY]
    return web.json_response(
        [{"user_id": u.user_id, "label": u.label, "following": u.following,
          "messages": [m.view() for m in fake.chat(u.user_id)]} for u in fake.users.values()],
        dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def page(request: web.Request) -> web.Response:
    """GET /: the chats page (a static shell that reads /_fake/line/chats)."""
    html = resources.files(__package__).joinpath("fake_page.html").read_text("utf-8")
    return web.Response(text=html, content_type="text/html", charset="utf-8")


def make_fake_line_app(*, channel_secret: str, access_token: str,
                       webhook_url: str | None = None, fake: FakeLine | None = None) -> web.Application:
    """The fake's aiohttp app; its state is `app[FAKE_LINE_KEY]`."""
    app = web.Application(middlewares=[api_middleware])
    app[FAKE_LINE_KEY] = fake or FakeLine(channel_secret, access_token, webhook_url)

    async def session(app: web.Application) -> AsyncIterator[None]:
        state = app[FAKE_LINE_KEY]
        state.session = aiohttp.ClientSession()
        yield
        await state.session.close()
        state.session = None

    app.cleanup_ctx.append(session)
    r = app.router
    r.add_post("/v2/bot/message/push", push)
    r.add_post("/v2/bot/message/reply", reply)
    r.add_post("/_fake/line/users/{user}/follow", follow)
    r.add_post("/_fake/line/users/{user}/unfollow", unfollow)
    r.add_post("/_fake/line/users/{user}/text", text)
    r.add_post("/_fake/line/users/{user}/tap", tap)
    r.add_post("/_fake/line/fail", fail)
    r.add_get("/_fake/line/chats", chats)
    r.add_get("/", page)
    return app


def fake_line_of(app: web.Application) -> FakeLine:
    """The state object of an app made by make_fake_line_app."""
    return app[FAKE_LINE_KEY]
