"""LineSender through the official SDK against the fake: retry keys, errors, LINE off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from alert_gateway.line.client import LineSender, retry_key
from alert_gateway.line.fake_server import fake_line_of, make_fake_line_app
from alert_gateway.line.fake_state import FakeLine
from alert_gateway.line.messages import alert_body
from alert_gateway.metrics import Metrics
from alert_gateway.outbox.texts import AlertFacts
from alert_gateway.settings import Settings
from alert_gateway.twilio.client import PermanentSendError, TransientSendError
from tests.line.env import ACCESS_TOKEN, CHANNEL_SECRET, DAUGHTER_LINE

CREATED = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
BODY = alert_body("ja", AlertFacts("山田 花子", "sos", "金沢市広坂1-1-1"), to=DAUGHTER_LINE)


@pytest_asyncio.fixture
async def fake_and_sender() -> AsyncIterator[tuple[FakeLine, LineSender]]:
    """The fake LINE on loopback and a started sender pointed at it."""
    app = make_fake_line_app(channel_secret=CHANNEL_SECRET, access_token=ACCESS_TOKEN)
    async with TestServer(app) as server:
        settings = Settings(line_api_base=str(server.make_url("")).rstrip("/"),
                            line_channel_secret=CHANNEL_SECRET,
                            line_channel_access_token=ACCESS_TOKEN)
        sender = LineSender(settings, Metrics())
        await sender.start()
        fake = fake_line_of(app)
        fake.user(DAUGHTER_LINE).following = True
        try:
            yield fake, sender
        finally:
            await sender.close()


async def test_a_repeated_push_of_one_attempt_is_delivered_once(
        fake_and_sender: tuple[FakeLine, LineSender]) -> None:
    """The second request of an attempt carries the same retry key: LINE's 409 counts as sent."""
    fake, sender = fake_and_sender
    first = await sender.push(attempt_id=7, created_at=CREATED, body=BODY)
    again = await sender.push(attempt_id=7, created_at=CREATED, body=BODY)
    assert first.status == again.status == "sent" and again.sid.startswith("line:")
    assert len(fake.from_bot(DAUGHTER_LINE)) == 1
    assert list(fake.retry_keys) == [retry_key(7, CREATED)]


async def test_line_errors_become_the_outbox_send_errors(
        fake_and_sender: tuple[FakeLine, LineSender]) -> None:
    """5xx and 429 are retried by the outbox; a refused recipient is permanent; so is LINE off."""
    fake, sender = fake_and_sender
    for status in (500, 429):
        fake.fail_statuses.append(status)
        with pytest.raises(TransientSendError):
            await sender.push(attempt_id=1, created_at=CREATED, body=BODY)
    fake.user(DAUGHTER_LINE).following = False  # blocked before the unfollow event came
    with pytest.raises(PermanentSendError, match="HTTP 400"):
        await sender.push(attempt_id=2, created_at=CREATED, body=BODY)
    off = LineSender(Settings(), Metrics())
    await off.start()
    with pytest.raises(PermanentSendError, match="not configured"):
        await off.push(attempt_id=3, created_at=CREATED, body=BODY)
