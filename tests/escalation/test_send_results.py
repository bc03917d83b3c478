"""What an API answer means for its attempt: the pure decision the dispatcher records."""

from __future__ import annotations

from alert_gateway.db.models import AttemptStatus
from alert_gateway.outbox.results import MAX_RETRIES, Verdict, decide
from alert_gateway.twilio.client import PermanentSendError, ProviderResult, TransientSendError

SENDING = AttemptStatus.SENDING.value
ACCEPTED = ProviderResult(sid="SM1", status="queued")


def test_an_accepted_request_is_recorded_as_sent() -> None:
    """Twilio took it: callbacks follow."""
    assert decide(SENDING, 0, ACCEPTED) is Verdict.ACCEPTED


def test_a_transient_error_is_retried_until_the_retries_run_out() -> None:
    """A 5xx or a timeout goes back to the outbox, a bounded number of times."""
    assert decide(SENDING, MAX_RETRIES - 1, TransientSendError("503")) is Verdict.RETRY
    assert decide(SENDING, MAX_RETRIES, TransientSendError("503")) is Verdict.FAILED


def test_a_permanent_error_fails_at_once() -> None:
    """A bad number is not tried again."""
    assert decide(SENDING, 0, PermanentSendError("bad number", code="21211")) is Verdict.FAILED


def test_an_answer_for_a_voided_attempt_leaves_it_voided() -> None:
    """Its alert closed while the request was in flight: whatever Twilio said, nobody is called."""
    canceled = AttemptStatus.CANCELED.value
    assert decide(canceled, 0, ACCEPTED) is Verdict.VOIDED
    assert decide(canceled, 0, TransientSendError("503")) is Verdict.VOIDED
