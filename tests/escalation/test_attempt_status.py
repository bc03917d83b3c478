"""Which provider statuses move an attempt on, and which a webhook may answer without a transaction."""

from __future__ import annotations

import pytest

from alert_gateway.outbox.attempts import tells_nothing_new


@pytest.mark.parametrize(("channel", "status"), [
    ("sms", "queued"), ("sms", "accepted"), ("voice", "queued"), ("voice", "initiated"),
    ("sms", "no-such-status"),
])
def test_statuses_the_api_answer_already_gave_change_nothing(channel: str, status: str) -> None:
    assert tells_nothing_new(channel, status)


@pytest.mark.parametrize(("channel", "status"), [
    ("sms", "sent"), ("sms", "delivered"), ("sms", "undelivered"), ("sms", "failed"),
    ("voice", "ringing"), ("voice", "in-progress"), ("voice", "completed"), ("voice", "busy"),
    ("voice", "no-answer"), ("voice", "failed"),
])
def test_progress_and_failures_are_always_applied(channel: str, status: str) -> None:
    assert not tells_nothing_new(channel, status)
