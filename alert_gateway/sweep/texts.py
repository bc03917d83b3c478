"""A sweep's message as text: the SMS a resident gets with their first sweep call.

It carries the supervisor's message in the resident's language and a one-tap answer link
(`/r/{token}`, as in alert SMS: Japan has no two-way SMS), so a resident can answer 無事です /
助けが必要 without a call. It goes through the outbox like every send (below every alarm, under
the account's rate, retried, its status called back); it is a row of its own, so its failure
never touches the call. A landline gets none: the escalation's rule (escalation/people.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from ..db.models import (
    NotificationAttempt,
    NotifyChannel,
    Purpose,
    Resident,
    Sweep,
    SweepEntry,
    SweepLink,
    Target,
)
from ..escalation.people import resident_person
from ..i18n import language_of, t
from ..responses import links
from ..settings import Settings
from ..wellbeing.check_call import CHECK_PRIORITY


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


def add_text(session: AsyncSession, entry: SweepEntry, resident: Resident, sweep: Sweep, *,
             now: datetime, settings: Settings) -> bool:
    """With the entry's first call, queue the resident's SMS and store its link's hash; True if
    one was queued. Retries send no second SMS: the first link stays good until it expires."""
    if entry.tries != 1 or not takes_sms(resident):
        return False
    assert entry.id is not None and resident.phone is not None
    token, hashed = links.new_token()
    session.add(SweepLink(token_hash=hashed, entry_id=entry.id, created_at=now,
                          expires_at=now + timedelta(hours=settings.answer_link_hours)))
    language = language_of(resident.language)
    session.add(NotificationAttempt(
        alert_id=None, target=Target.RESIDENT.value, to_number=resident.phone,
        channel=NotifyChannel.SMS.value, purpose=Purpose.SWEEP.value, priority=CHECK_PRIORITY,
        body=sms_body(language, message=message_in(sweep, language),
                      link=links.url_of(settings.public_url, token)),
        created_at=now, not_before=now))
    return True


async def find(session: AsyncSession, token: str) -> SweepLink | None:
    """The sweep link of a token from a URL; None for anything malformed or unknown."""
    if not links.TOKEN_SHAPE.match(token):
        return None
    return await session.get(SweepLink, links.hash_of(token))
