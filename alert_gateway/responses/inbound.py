"""Inbound SMS: "1" accepts, "2" declines, STOP/START opt out and in; replies are rate-limited."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.answer_links import Answer
from ..db.models import (
    ACTIVE_STATUSES,
    AckChannel,
    Alert,
    AlertResponder,
    AttemptStatus,
    Contact,
    NotificationAttempt,
    Purpose,
    Resident,
    Target,
)
from ..i18n import language_of, t
from ..outbox.notices import facts_of, sms_row
from ..outbox.texts import fit
from .answers import answer
from .callbacks import HookResult

# Carrier keywords Twilio also honours (https://help.twilio.com/articles/223134027).
STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "停止"})
START_WORDS = frozenset({"start", "unstop", "yes"})
ACCEPT_WORDS = frozenset({"1", "ok", "はい", "了解", "行けます"})
DECLINE_WORDS = frozenset({"2", "ng", "no", "いいえ", "無理", "行けません"})
REPLY = re.compile(
    r"^(?:(?P<word>[^\sa-z]+|ok|ng|no)\s*(?P<code>[a-z])?|(?P<code2>[a-z])\s*(?P<word2>[12]))$"
)


def parse(body: str) -> tuple[str, str | None]:
    """("accept" | "decline" | "stop" | "start" | "help", short code or None); full-width folded."""
    text = unicodedata.normalize("NFKC", body).strip().lower().rstrip("。.!！")
    if text in STOP_WORDS:
        return "stop", None
    if text in START_WORDS:
        return "start", None
    match = REPLY.match(text)
    if match is None:
        return "help", None
    word = match.group("word") or match.group("word2")
    code = match.group("code") or match.group("code2")
    if word in ACCEPT_WORDS:
        return "accept", code.upper() if code else None
    if word in DECLINE_WORDS:
        return "decline", code.upper() if code else None
    return "help", None


async def inbound_sms(session: AsyncSession, *, from_: str, body: str, now: datetime, tz: tzinfo,
                      replies_per_hour: int) -> HookResult:
    """Apply one SMS from a phone; `say` is the automatic reply (None: stay silent)."""
    contacts = list((await session.exec(select(Contact).where(Contact.phone == from_))).all())
    verb, code = parse(body)
    lang = language_of(contacts[0].language if contacts else "ja")
    result = HookResult(language=lang)
    if verb in ("stop", "start"):
        for contact in contacts:  # Twilio confirms opt-out itself; we only stop texting
            contact.sms_opt_out, contact.updated_at = verb == "stop", now
        return result
    if not contacts:
        return await _reply(session, from_, t(lang, "sms.unknown_sender"), now, replies_per_hour,
                            result)
    ids = [c.id for c in contacts]
    rows = list((await session.exec(
        select(AlertResponder, Alert)
        .join(Alert, col(Alert.id) == col(AlertResponder.alert_id))
        .where(col(AlertResponder.contact_id).in_(ids), col(Alert.status).in_(ACTIVE_STATUSES))
        .order_by(col(Alert.opened_at)))).all())
    chosen = [(r, a) for r, a in rows if code is None or r.short_code == code]
    if verb == "help" or not chosen or (len(chosen) > 1 and code is None):
        text = await _help(session, lang, rows if len(rows) > 1 else [])
        if not rows and verb != "help":
            text = t(lang, "sms.closed")
        return await _reply(session, from_, text, now, replies_per_hour, result)
    responder, alert = chosen[0]
    text = await answer(session, alert, responder.contact_id,
                        Answer.ACCEPT if verb == "accept" else Answer.DECLINE,
                        channel=AckChannel.SMS, now=now, tz=tz, result=result)
    return await _reply(session, from_, text, now, replies_per_hour, result)


async def _help(session: AsyncSession, lang: str, rows: list[tuple[AlertResponder, Alert]]) -> str:
    if not rows:
        return t(lang, "sms.help")
    parts = []
    for responder, alert in rows:
        resident = await session.get(Resident, alert.resident_id) if alert.resident_id else None
        parts.append(f"1{responder.short_code}={facts_of(alert, resident).resident_name}")
    return t(lang, "sms.help_codes", codes=" ".join(parts))


async def _reply(session: AsyncSession, to: str, text: str, now: datetime, limit: int,
                 result: HookResult) -> HookResult:
    """Answer at most `limit` times an hour per number, so two robots never talk for ever."""
    sent = (await session.exec(select(func.count()).where(
        NotificationAttempt.to_number == to,
        col(NotificationAttempt.purpose) == Purpose.REPLY.value,
        col(NotificationAttempt.created_at) >= now - timedelta(hours=1)))).one()
    if sent >= limit:
        return result
    text = fit(text, 1)
    # Recorded as an outbox row already sent: the reply travels inline in the TwiML answer.
    row = sms_row(alert_id=None, target=Target.CONTACT, contact_id=None, to=to, body=text,
                  purpose=Purpose.REPLY, priority=1, now=now, status=AttemptStatus.SENT)
    row.sent_at = now
    session.add(row)
    result.say = text
    return result
