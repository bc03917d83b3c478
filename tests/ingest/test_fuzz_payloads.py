"""Property: whatever arrives on an alarm topic is stored or kept as rejected, and the next alarm lands."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from alert_gateway.clock import FakeClock
from alert_gateway.db.engine import SessionFactory
from alert_gateway.db.models import InboundMessage, RejectedMessage
from alert_gateway.ingest.parse import Incoming, Rejection, parse_message
from alert_gateway.ingest.store import store_batch
from devices.contract import Channel, Topics

TOPICS = Topics()
EXAMPLES = 60  # per database; the edge cases that matter are also in test_hostile_input

text = st.text(max_size=12) | st.sampled_from(["\x00", "sos\x00", "ﾃｽﾄ", "a" * 65])
numbers = (st.integers() | st.integers(min_value=-(2**80), max_value=2**80)
           | st.floats(allow_nan=True, allow_infinity=True))
scalars = st.none() | st.booleans() | numbers | text
offsets = st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59))
timestamps = st.datetimes(timezones=offsets.map(timezone)).map(lambda d: d.isoformat()) | text
alarms = st.fixed_dictionaries(
    {"id": text, "type": st.sampled_from(["sos", "fall", "test", "radon"]) | text, "ts": timestamps},
    optional={
        "data": st.dictionaries(text, scalars, max_size=4) | scalars,
        "battery": numbers,
        "qualifier": st.sampled_from(["new", "restore", "repeat"]) | text,
    },
)
payloads = alarms.map(lambda a: json.dumps(a).encode()) | st.binary(max_size=40)
devices = itertools.count()


async def _store(sessions: SessionFactory, clock: FakeClock, device: str, payload: bytes) -> Any:
    item = parse_message(TOPICS.for_device(device, Channel.ALARM), payload, topics=TOPICS, max_bytes=4096,
                         received_at=clock.now())
    async with sessions() as s:  # must commit: what passes the edge, the database can hold
        await store_batch(s, [item], now=clock.now(), skew_limit=300, cancel_min_seconds=0,
                          cancel_grace_seconds=300)
        await s.commit()
    return item


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads)
async def test_any_alarm_payload_is_stored_or_kept_and_the_next_alarm_lands(
    sessions: SessionFactory, clock: FakeClock, payload: bytes
) -> None:
    """No payload on an alarm topic makes the store fail, and a valid alarm after it is stored."""
    device = f"fuzz-{next(devices)}"
    item = await _store(sessions, clock, device, payload)
    valid = json.dumps({"id": "ok", "type": "sos", "ts": clock.now().isoformat()}).encode()
    await _store(sessions, clock, device, valid)
    async with sessions() as s:
        stored = set((await s.exec(select(InboundMessage.message_id)
                                   .where(InboundMessage.device_id == device))).all())
        rejected = (await s.exec(select(RejectedMessage).where(RejectedMessage.device_id == device))).all()
    assert "ok" in stored, payload
    if isinstance(item, Incoming):
        assert item.message.id in stored and not rejected, payload  # type: ignore[union-attr]
    else:
        assert isinstance(item, Rejection) and [r.payload for r in rejected] == [payload], payload
