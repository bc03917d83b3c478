"""A sweep call's <Gather> says it is one, so its "1" takes the one-statement path; an alarm
call's does not, so a contact's key never tries that statement first."""

from __future__ import annotations

from datetime import UTC, datetime

from alert_gateway.db.models import NotificationAttempt, Purpose
from alert_gateway.outbox.sending import gather_url

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def _call(purpose: Purpose) -> NotificationAttempt:
    return NotificationAttempt(id=7, to_number="+819000000001", channel="voice", target="resident",
                               purpose=purpose.value, created_at=NOW, not_before=NOW)


def test_a_sweep_calls_gather_names_its_purpose_and_an_alarm_calls_does_not() -> None:
    assert gather_url("https://gw.example/", _call(Purpose.SWEEP)) == \
        "https://gw.example/twilio/voice/gather?attempt=7&purpose=sweep"
    assert gather_url("https://gw.example", _call(Purpose.ALERT)) == \
        "https://gw.example/twilio/voice/gather?attempt=7"
