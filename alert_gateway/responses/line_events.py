"""LINE webhook events applied: a button tap goes through the same acceptance path as an SMS
reply or a keypress (answers.answer; a resident's sweep answer: sweep.outcomes.answer, as a key
on the sweep call); a link code links the account; "block" unlinks.

Events can arrive twice (LINE redelivers) and in any order: each one is idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from linebot.v3.webhooks import (
    Event,
    FollowEvent,
    MessageEvent,
    PostbackEvent,
    TextMessageContent,
    UnfollowEvent,
    UserSource,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from ..bus import AlertChange
from ..db.answer_links import Answer
from ..db.models import (
    AckChannel,
    Alert,
    AnsweredBy,
    AttemptStatus,
    Contact,
    EntryState,
    NotificationAttempt,
    NotifyChannel,
    Purpose,
    Resident,
    SweepEntry,
)
from ..i18n import language_of, t
from ..line import linking
from ..line.messages import ALERT_ANSWERS, SWEEP_ANSWERS, entry_of, parse_postback
from ..metrics import Metrics
from ..outbox.attempts import settle
from ..sweep import outcomes, texts
from ..wellbeing.check_call import CheckAnswer
from .answers import answer
from .callbacks import HookResult


@dataclass
class LineOutcome:
    """What a webhook changed (published after commit) and the replies to send (reply token,
    texts)."""

    changes: list[AlertChange] = field(default_factory=list)
    replies: list[tuple[str, list[str]]] = field(default_factory=list)
    sweep_answered: bool = False  # a resident answered a sweep: its runner may call the next


async def apply_events(session: AsyncSession, events: Sequence[Event], *, now: datetime, tz: tzinfo,
                       metrics: Metrics) -> LineOutcome:
    """Apply each event of one webhook request in the caller's transaction."""
    out = LineOutcome()
    for event in events:
        user = event.source.user_id if isinstance(event.source, UserSource) else None
        if not user:  # a group or room: we only talk to people one to one
            metrics.line_events.labels(kind="ignored").inc()
            continue
        kind, text = await _one(session, event, user, now=now, tz=tz, metrics=metrics, out=out)
        metrics.line_events.labels(kind=kind).inc()
        token = getattr(event, "reply_token", None)
        if text and token:
            out.replies.append((token, [text]))
    return out


async def _one(session: AsyncSession, event: Event, user: str, *, now: datetime, tz: tzinfo,
               metrics: Metrics, out: LineOutcome) -> tuple[str, str | None]:
    """(metric kind, reply text or None) for one event."""
    if isinstance(event, PostbackEvent):
        return await _postback(session, event.postback.data, user, now=now, tz=tz,
                               metrics=metrics, out=out)
    if isinstance(event, UnfollowEvent):
        await linking.unlink(session, line_user_id=user, now=now)
        return "unfollow", None
    if isinstance(event, FollowEvent):
        return "follow", t("ja", "line.welcome")
    if isinstance(event, MessageEvent) and isinstance(event.message, TextMessageContent):
        return await _text(session, event.message.text, user, now=now)
    return "ignored", None


async def _text(session: AsyncSession, text: str, user: str, *,
                now: datetime) -> tuple[str, str | None]:
    """A link code links the account; anything else from an unlinked account asks for one."""
    code = linking.normalize(text)
    owner = await linking.redeem(session, code=code, line_user_id=user, now=now) if code else None
    if isinstance(owner, Resident):  # the resident themselves: a sweep's message comes here
        return "linked", t(owner.language, "line.linked_resident")
    if owner is not None:
        resident = await session.get(Resident, owner.resident_id)
        name = resident.name if resident is not None else ""
        return "linked", t(owner.language, "line.linked", name=name)
    mine = await linking.linked(session, user)
    if code is not None:
        return "bad_code", t(mine[0].language if mine else "ja", "line.bad_code")
    return ("ignored", None) if mine else ("ignored", t("ja", "line.not_linked"))


async def _postback(session: AsyncSession, data: str, user: str, *, now: datetime, tz: tzinfo,
                    metrics: Metrics, out: LineOutcome) -> tuple[str, str | None]:
    """A button: the attempt it names must be a LINE push to this very account."""
    tap = parse_postback(data)
    row = await session.get(NotificationAttempt, tap.attempt_id) if tap else None
    if tap is None or row is None or row.channel != NotifyChannel.LINE.value:
        return "ignored", None
    if row.purpose == Purpose.SWEEP.value:
        return await _sweep_tap(session, row, tap.answer, user, now=now, metrics=metrics, out=out)
    contact = await session.get(Contact, row.contact_id) if row.contact_id else None
    if (contact is None or row.alert_id is None or contact.line_user_id != user
            or tap.answer not in ALERT_ANSWERS):
        return "ignored", None
    alert = await session.get(Alert, row.alert_id)
    if alert is None or contact.id is None:
        return "ignored", None
    given = Answer(tap.answer)
    result = HookResult(language=language_of(contact.language))
    if given is Answer.DECLINE:
        settle(row, AttemptStatus.DECLINED, now=now, metrics=metrics)
    elif given is Answer.ACCEPT or alert.acknowledged_at is None:
        settle(row, AttemptStatus.ACCEPTED, now=now, metrics=metrics)
    text = await answer(session, alert, contact.id, given, channel=AckChannel.LINE, now=now,
                        tz=tz, result=result)
    out.changes.extend(result.changes)
    return given.value, text


async def _sweep_tap(session: AsyncSession, row: NotificationAttempt, given: str, user: str, *,
                     now: datetime, metrics: Metrics, out: LineOutcome) -> tuple[str, str | None]:
    """無事です / 助けが必要 on a sweep's message, from the resident's own account: as 1 / 9."""
    entry_id = entry_of(row.body)
    entry = await session.get(SweepEntry, entry_id, with_for_update=True,  # as on the link page
                              populate_existing=True) if entry_id is not None else None
    resident = await session.get(Resident, entry.resident_id) if entry is not None else None
    if (entry is None or resident is None or resident.line_user_id != user
            or given not in SWEEP_ANSWERS):
        return "ignored", None
    if not EntryState(entry.state).is_final:
        out.changes += await outcomes.answer(session, entry, CheckAnswer(given),
                                             by=AnsweredBy.LINE, now=now, metrics=metrics)
        out.sweep_answered = True
    return given, t(resident.language, texts.answered_key(EntryState(entry.state)))
