"""A sweep's message as text: the SMS and the LINE message a resident gets with their first
sweep call.

Both carry the supervisor's message in the resident's language and a way to answer 無事です /
助けが必要 without a call: the SMS a one-tap answer link (`/r/{token}`, as in alert SMS: Japan has
no two-way SMS), the LINE message two postback buttons. They go through the outbox like every
send (below every alarm, under the account's rate, retried, their status called back); each is a
row of its own, so their failure never touches the call. A landline gets no SMS (the
escalation's rule, escalation/people.py); only a resident who linked LINE gets the LINE message.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.models import (
    EntryState,
    NotifyChannel,
    Purpose,
    Resident,
    Sweep,
    SweepEntry,
    SweepLink,
)
from ..escalation.people import resident_person
from ..i18n import language_of, t
from ..line.messages import sweep_body
from ..responses import links
from ..settings import Settings
from ..wellbeing.check_call import resident_send


def message_in(sweep: Sweep, language: str) -> str:
    """The supervisor's message in the resident's language (the call says it too)."""
    return sweep.message_en if language_of(language) == "en" else sweep.message_ja


def takes_sms(resident: Resident) -> bool:
    """A resident's phone takes SMS unless it is a landline (the escalation's rule)."""
    person = resident_person(resident)
    return person is not None and NotifyChannel.SMS in person.usable(
        frozenset({NotifyChannel.SMS}))


def sms_body(language: str, *, message: str, link: str) -> str:
    """The SMS: the supervisor's message, then the link to answer."""
    return t(language_of(language), "sweep.sms", message=message, link=link)


def text_rows(entry: SweepEntry, resident: Resident, sweep: Sweep, *, now: datetime,
              settings: Settings) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """With the entry's first call, the column values of the resident's SMS and LINE message,
    and of the SMS link (its hash) if any. Retries send no more: the first ones stay good."""
    if entry.tries != 1 or resident.phone is None:
        return [], None
    assert entry.id is not None
    language = language_of(resident.language)
    message = message_in(sweep, language)
    queued: list[tuple[NotifyChannel, str]] = []
    link_row: dict[str, Any] | None = None
    if takes_sms(resident):
        token, hashed = links.new_token()
        link_row = {"token_hash": hashed, "entry_id": entry.id, "created_at": now,
                    "expires_at": now + timedelta(hours=settings.answer_link_hours)}
        link = links.url_of(settings.public_url, token)
        queued.append((NotifyChannel.SMS, sms_body(language, message=message, link=link)))
    if resident.line_user_id:
        queued.append((NotifyChannel.LINE, sweep_body(language, message=message,
                                                      to=resident.line_user_id, entry_id=entry.id)))
    return [resident_send(to_number=resident.phone, channel=channel, purpose=Purpose.SWEEP,
                          body=body, now=now) for channel, body in queued], link_row


def answered_key(state: EntryState) -> str:
    """What a resident reads once they are settled (the link's page, a LINE reply)."""
    return {EntryState.FINE: "page.sweep_fine", EntryState.HELP: "page.sweep_help"}.get(
        state, "page.sweep_closed")


async def find(session: AsyncSession, token: str) -> SweepLink | None:
    """The sweep link of a token from a URL; None for anything malformed or unknown."""
    if not links.TOKEN_SHAPE.match(token):
        return None
    return await session.get(SweepLink, links.hash_of(token))
