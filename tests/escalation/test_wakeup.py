"""What a dispatcher cycle asks the database: nothing, a claim, or a full look."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alert_gateway.outbox.wakeup import Look, WakeUp

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)


def _settled() -> WakeUp:
    wake = WakeUp()
    wake.begin(NOW, forced=False)  # the start's look
    wake.at = NOW + timedelta(minutes=3)
    return wake


def test_rows_queued_due_now_ask_for_a_claim_only() -> None:
    """A sweep's calls queued due now are claimed; the wake time learnt before stays."""
    wake = _settled()
    wake.queued_now()
    assert wake.begin(NOW, forced=False) is Look.CLAIM
    assert wake.at == NOW + timedelta(minutes=3)
    assert wake.begin(NOW, forced=False) is Look.NONE


def test_a_poke_or_the_wake_time_asks_for_a_full_look() -> None:
    """A poke (a change here or on another replica), a forced look or the wake time reached
    still claim, keep house and learn the next wake time, rows queued due now or not."""
    wake = _settled()
    wake.queued_now()
    wake.poke()
    assert wake.begin(NOW, forced=False) is Look.FULL
    assert wake.begin(NOW, forced=True) is Look.FULL
    assert wake.begin(NOW + timedelta(minutes=3), forced=False) is Look.FULL
