"""Status callbacks and send results in any order and any number: an attempt only moves forward."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from alert_gateway.clock import FakeClock
from alert_gateway.db.models import Alert, NotificationAttempt
from alert_gateway.outbox import results
from alert_gateway.twilio.client import ProviderResult

from ..api.hostile import Edge, edge_app, form_body, twilio_signature

CALL_SID = "CA" + "7" * 32
SMS_SID = "SM" + "8" * 32


async def _attempt(edge: Edge, clock: FakeClock, *, channel: str, status: str,
                   sid: str | None) -> int:
    async with edge.services.sessions() as session:
        row = NotificationAttempt(alert_id=edge.alert_id, target="contact",
                                  contact_id=edge.contact_id, to_number="+819011112222",
                                  channel=channel, status=status, provider_sid=sid,
                                  created_at=clock.now(), not_before=clock.now())
        session.add(row)
        await session.commit()
        assert row.id is not None
        return row.id


async def _post(edge: Edge, path: str, attempt_id: int, form: dict[str, str]) -> None:
    path_qs = f"{path}?attempt={attempt_id}"
    body, headers = form_body(form)
    headers["X-Twilio-Signature"] = twilio_signature(path_qs, form)
    async with edge.client.post(path_qs, data=body, headers=headers) as response:
        assert response.status == 204, await response.text()


async def _row(edge: Edge, attempt_id: int) -> NotificationAttempt:
    async with edge.services.sessions() as session:
        row = await session.get(NotificationAttempt, attempt_id)
    assert row is not None
    return row


def _counted(edge: Edge, channel: str, status: str) -> float:
    return edge.services.metrics.registry.get_sample_value(
        "alert_gateway_notifications_total", {"channel": channel, "status": status}) or 0.0


async def test_a_late_ringing_never_undoes_a_finished_call(database_url: str, clock: FakeClock) -> None:
    """ringing, completed, then a late ringing and a repeated completed: the call stays not
    reached, finished once and counted once."""
    async with edge_app(database_url, clock) as edge:
        attempt_id = await _attempt(edge, clock, channel="voice", status="queued", sid=CALL_SID)
        for status in ("ringing", "completed", "ringing", "completed"):
            await _post(edge, "/twilio/voice/status", attempt_id,
                        {"CallSid": CALL_SID, "CallStatus": status})
        row = await _row(edge, attempt_id)
        assert (row.status, row.deadline_at) == ("not_reached", None)
        assert row.finished_at is not None
        assert _counted(edge, "voice", "not_reached") == 1
        await _post(edge, "/twilio/voice/status", attempt_id,
                    {"CallSid": "CA" + "0" * 32, "CallStatus": "ringing"})  # not this call's sid
        assert (await _row(edge, attempt_id)).status == "not_reached"


async def test_a_callback_before_the_api_answer_keeps_its_later_status(
        database_url: str, clock: FakeClock) -> None:
    """'delivered' arrives while the request is still in flight: it fills in the sid; the API
    answer that follows sets the send time and the alert's first notification, not the status."""
    async with edge_app(database_url, clock) as edge:
        attempt_id = await _attempt(edge, clock, channel="sms", status="sending", sid=None)
        await _post(edge, "/twilio/sms/status", attempt_id,
                    {"MessageSid": SMS_SID, "MessageStatus": "delivered"})
        services = edge.services
        recorded = await services.writes.run(lambda session: results.record(
            session, attempt_id, ProviderResult(sid=SMS_SID, status="queued"), now=clock.now(),
            metrics=services.metrics))
        row = await _row(edge, attempt_id)
        assert (row.status, row.provider_sid, row.sent_at is not None) == ("delivered", SMS_SID, True)
        assert recorded.first_latency is not None
        async with services.sessions() as session:
            alert = await session.get(Alert, edge.alert_id)
        assert alert is not None and alert.first_notified_at is not None
        assert _counted(edge, "sms", "delivered") == 1


async def test_an_accepted_send_is_queued_with_its_deadline(database_url: str, clock: FakeClock) -> None:
    """Twilio took the request: the attempt is queued with the sid, chased if no final status
    comes; a second answer for it changes nothing."""
    async with edge_app(database_url, clock) as edge:
        attempt_id = await _attempt(edge, clock, channel="voice", status="sending", sid=None)
        services = edge.services

        async def answer(session: AsyncSession) -> results.Recorded:
            return await results.record(session, attempt_id,
                                        ProviderResult(sid=CALL_SID, status="queued"),
                                        now=clock.now(), metrics=services.metrics)

        first = await services.writes.run(answer)
        row = await _row(edge, attempt_id)
        assert (row.status, row.provider_sid) == ("queued", CALL_SID)
        assert row.deadline_at is not None and first.look_at is not None
        assert first.first_latency is not None
        again = await services.writes.run(answer)
        assert again.first_latency is None  # the alert's first notification is counted once
        assert (await _row(edge, attempt_id)).status == "queued"
        sms_id = await _attempt(edge, clock, channel="sms", status="sending", sid=None)
        second = await services.writes.run(lambda session: results.record(
            session, sms_id, ProviderResult(sid=SMS_SID, status="queued"), now=clock.now(),
            metrics=services.metrics))
        assert second.first_latency is None  # the alert's second send is not its first
        assert (await _row(edge, sms_id)).status == "queued"
