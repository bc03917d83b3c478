"""A closed alert with everything retention purges: timeline texts, an SMS, a raw payload."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from alert_gateway.db.alerts import Alert, AlertEvent
from alert_gateway.db.escalation import AlertResponder, NotificationAttempt
from alert_gateway.db.messages import RejectedMessage
from alert_gateway.services import Services

SMS_TEXT = "金沢 ハナ さん（石川県金沢市広坂1-1-1）から通報"
NUMBER = "+819011112222"
RAW = b'{"name": "\xe9\x87\x91\xe6\xb2\xa2"}'


async def closed_alert(services: Services, *, resolved_days_ago: float,
                       resident_id: str | None = "r-001") -> int:
    """A resolved sos alert with a timeline note, a delivered SMS, a responder note and a raw
    rejected payload; returns its id."""
    resolved = services.clock.now() - timedelta(days=resolved_days_ago)
    opened = resolved - timedelta(minutes=20)
    async with services.sessions() as session:
        alert = Alert(resident_id=resident_id, device_id="pendant-001", type="sos", severity="P1",
                      status="resolved", outcome="family_attended", outcome_note="娘さんが到着",
                      opened_at=opened, acknowledged_at=opened + timedelta(seconds=50),
                      resolved_at=resolved, updated_at=resolved)
        session.add(alert)
        await session.flush()
        assert alert.id is not None
        session.add(AlertEvent(alert_id=alert.id, at=opened, kind="note", actor="operator:sato",
                               message="本人と通話: 金沢 ハナ", data={"raw": "金沢"}))
        session.add(NotificationAttempt(alert_id=alert.id, target="contact", contact_id=1,
                                        to_number=NUMBER, channel="sms", status="delivered",
                                        body=SMS_TEXT, created_at=opened, not_before=opened,
                                        finished_at=opened))
        session.add(AlertResponder(alert_id=alert.id, contact_id=1, state="arrived",
                                   updated_at=resolved, note="鍵は玄関横"))
        session.add(RejectedMessage(received_at=opened, topic="t", device_id="pendant-001",
                                    reason="schema", detail="name: 金沢", payload=RAW,
                                    alert_id=alert.id))
        await session.commit()
        return alert.id


async def raw_details(engine: AsyncEngine, alert_id: int) -> dict[str, object]:
    """What the database holds for the alert's details, read with plain SQL."""
    async with engine.connect() as conn:
        async def one(sql: str) -> object:
            return (await conn.execute(text(sql), {"id": alert_id})).scalar_one()
        return {
            "sms": await one("SELECT body FROM notificationattempt WHERE alert_id = :id"),
            "number": await one("SELECT to_number FROM notificationattempt WHERE alert_id = :id"),
            "timeline": await one("SELECT message FROM alertevent WHERE alert_id = :id"),
            "responder_note": await one("SELECT note FROM alertresponder WHERE alert_id = :id"),
            "payload": bytes(await one(  # type: ignore[arg-type]
                "SELECT payload FROM rejectedmessage WHERE alert_id = :id")),
            "outcome_note": await one("SELECT outcome_note FROM alert WHERE id = :id"),
            "outcome": await one("SELECT outcome FROM alert WHERE id = :id"),
        }


def month_of(moment: datetime, zone: str) -> str:
    """YYYY-MM of a moment in the centre's zone."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m")
