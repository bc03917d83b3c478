"""The escalation story set-up plus the fake LINE: a resident whose daughter and son linked LINE."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer
from sqlmodel import col, select

from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.models import Contact
from alert_gateway.line.fake_server import fake_line_of, make_fake_line_app
from alert_gateway.line.fake_state import FakeLine, FakeLineMessage
from alert_gateway.web.access_log import AccessLog
from tests.escalation.env import Env, escalation_env, policies_file, seed

CHANNEL_SECRET = "line-test-channel-secret"
ACCESS_TOKEN = "line-test-access-token"
DAUGHTER_LINE = "U" + "d" * 32
SON_LINE = "U" + "5" * 32
POLICY = """
[[policy]]
name = "default"
[[policy.step]]
targets = ["contact:all"]
channels = "sms+line+voice"
wait_seconds = 120
"""


async def seed_line(url: str) -> None:
    """The escalation seed (daughter 1st, son 2nd); the daughter (ja) and son (en) linked LINE,
    and a neighbour who did not."""
    await seed(url)
    engine = make_engine(url)
    async with make_sessions(engine)() as s:
        daughter, son = (await s.exec(select(Contact).order_by(col(Contact.id)))).all()
        daughter.line_user_id = DAUGHTER_LINE
        son.line_user_id, son.language = SON_LINE, "en"
        s.add(Contact(resident_id="r-1", name="隣 太郎", relation="neighbour", phone="+819011110003",
                      phone_type="mobile", priority=3))
        await s.commit()
    await engine.dispose()


@dataclass
class LineEnv:
    """The story's gateway and fakes, with the LINE side's helpers."""

    env: Env
    line: FakeLine
    line_url: str

    async def act(self, user: str, what: str, data: dict[str, Any] | None = None) -> list[str]:
        """A person does something on LINE (follow, unfollow, text, tap); the gateway's replies."""
        answer = await self.env.control_at(self.line_url, f"/_fake/line/users/{user}/{what}", data)
        return [r["text"] for r in answer["replies"]]

    async def pushed(self, user: str) -> FakeLineMessage:
        """The first message pushed to this account (waits for it)."""
        [first, *_] = await self.line.wait_for(lambda f: f.from_bot(user, "push"), timeout=15)
        return first

    async def tap(self, user: str, label: str) -> list[str]:
        """Tap the button labelled `label` on the first pushed message; the replies."""
        message = await self.pushed(user)
        [button] = [b for b in message.buttons if b["label"] == label]
        return await self.act(user, "tap", button)


@asynccontextmanager
async def line_env(database_url: str, topic_root: str, clock: FakeClock, tmp_path: Path,
                   **overrides: Any) -> AsyncIterator[LineEnv]:
    """Fake Twilio, fake LINE and a gateway whose policy names sms+line+voice."""
    app = make_fake_line_app(channel_secret=CHANNEL_SECRET, access_token=ACCESS_TOKEN)
    server = TestServer(app)
    await server.start_server(access_log_class=AccessLog)
    async with server:
        line_url = str(server.make_url("")).rstrip("/")
        values: dict[str, Any] = {
            "line_api_base": line_url, "line_channel_secret": CHANNEL_SECRET,
            "line_channel_access_token": ACCESS_TOKEN,
            "policies_file": policies_file(tmp_path, POLICY)}
        values.update(overrides)
        async with escalation_env(database_url, topic_root, clock, **values) as env:
            fake = fake_line_of(app)
            fake.webhook_url = env.settings.public_url + "/line/webhook"
            for user in (DAUGHTER_LINE, SON_LINE):
                fake.user(user).following = True  # they linked before the story starts
            yield LineEnv(env, fake, line_url)
