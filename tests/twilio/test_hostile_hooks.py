"""Signed Twilio webhooks carrying hostile values: refused after the signature check, never a 5xx."""

from __future__ import annotations

from urllib.parse import quote

from alert_gateway.clock import FakeClock
from alert_gateway.db.escalation import NotificationAttempt

from ..api import seed
from ..api.hostile import ENCODED_SURROGATE, HOSTILE_VALUES, NUL, Edge, edge_app, form_body, twilio_signature

FORMS = {
    "/twilio/sms/inbound": {"From": "+819012345678", "To": "+815011112222", "Body": "1",
                            "MessageSid": "SM" + "1" * 32},
    "/twilio/sms/status": {"MessageSid": "SM" + "2" * 32, "MessageStatus": "failed",
                           "ErrorCode": "30003"},
    "/twilio/voice/status": {"CallSid": "CA" + "3" * 32, "CallStatus": "completed",
                             "AnsweredBy": "human"},
    "/twilio/voice/amd": {"CallSid": "CA" + "4" * 32, "AnsweredBy": "machine_start"},
    "/twilio/voice/gather": {"CallSid": "CA" + "5" * 32, "Digits": "1"},
    "/twilio/voice/twiml": {"CallSid": "CA" + "6" * 32},
}
CALLBACKS = ("/twilio/sms/status", "/twilio/voice/status", "/twilio/voice/amd")


async def _post_signed(edge: Edge, path_qs: str, form: dict[str, str]) -> tuple[int, str]:
    body, headers = form_body(form)
    headers["X-Twilio-Signature"] = twilio_signature(path_qs, form)
    async with edge.client.post(path_qs, data=body, headers=headers) as response:
        await edge.note(response, form)
        return response.status, await response.text()


def _refused(edge: Edge) -> float:
    value = edge.services.metrics.registry.get_sample_value(
        "alert_gateway_webhook_refused_total", {"reason": "bad_input"})
    return value or 0.0


async def test_no_webhook_answers_5xx_to_hostile_values(database_url: str, clock: FakeClock) -> None:
    """Every hook, signed, with hostile attempt ids and hostile values (NUL, 5,000 characters, huge
    numbers) in each form field: never a 5xx."""
    async with edge_app(database_url, clock) as edge:
        await seed.escalation_trace(edge.services.sessions, clock, edge.alert_id)
        async with edge.services.sessions() as session:
            attempt = await session.get(NotificationAttempt, 1)
        assert attempt is not None
        for path, form in FORMS.items():
            for raw in ("1", *(quote(v, safe="") for v in HOSTILE_VALUES), ENCODED_SURROGATE):
                await _post_signed(edge, f"{path}?attempt={raw}", form)
            for name in form:
                for value in HOSTILE_VALUES:
                    await _post_signed(edge, f"{path}?attempt=1", form | {name: value})
        assert edge.failures == [], "\n".join(edge.failures)


async def test_signed_callback_for_a_huge_attempt_id_is_a_400(
        database_url: str, clock: FakeClock) -> None:
    """A signed status callback for attempt 99999999999999999999 is a counted 400; a keypress on
    such an attempt gets a quiet TwiML answer, because a person is on the line."""
    async with edge_app(database_url, clock) as edge:
        huge = "99999999999999999999"
        for path in CALLBACKS:
            status, text = await _post_signed(edge, f"{path}?attempt={huge}", FORMS[path])
            assert status == 400, text
        status, text = await _post_signed(edge, f"/twilio/voice/gather?attempt={huge}",
                                          FORMS["/twilio/voice/gather"])
        assert status == 200 and text.startswith("<?xml"), text
        status, text = await _post_signed(edge, "/twilio/sms/inbound",
                                          FORMS["/twilio/sms/inbound"] | {"Body": NUL})
        assert status == 200 and text.endswith("<Response />"), text
        assert _refused(edge) == 5
        assert edge.failures == [], "\n".join(edge.failures)


async def test_unsigned_hostile_webhook_is_still_a_403(database_url: str, clock: FakeClock) -> None:
    """The signature is checked first: an unsigned huge attempt id is refused as unsigned."""
    async with edge_app(database_url, clock) as edge:
        body, headers = form_body(FORMS["/twilio/voice/status"])
        response = await edge.client.post("/twilio/voice/status?attempt=99999999999999999999",
                                          data=body, headers=headers)
        assert response.status == 403, await response.text()
        assert _refused(edge) == 0
