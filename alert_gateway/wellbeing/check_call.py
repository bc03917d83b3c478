"""The resident check call: "press 1 if you are fine, 9 if you need help", in their language.

One job, for whoever checks on residents (the wellbeing scheduler, a disaster sweep):
build the call's outbox row, read a keypress, and read a finished call's result. The caller owns
what an answer means (a wellbeing window, a sweep entry) and finds its row by the attempt id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from sqlalchemy import tuple_, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from devices.contract import Severity

from ..db.models import AttemptStatus, NotificationAttempt, NotifyChannel, Purpose, Target
from ..i18n import language_of, t
from ..metrics import Metrics
from ..outbox.attempts import settle
from ..outbox.texts import VOICE_LANGUAGES

# Below every alarm in the outbox (P4 is rank 4): the dispatcher serves alarms' sends first,
# and a storm's urgent-only claim leaves these waiting.
CHECK_PRIORITY = Severity.P4.rank + 1


class Checked(Protocol):
    """A resident's check that is tried again and again: a wellbeing window, a sweep entry."""

    id: int | None
    state: str
    tries: int


Row = TypeVar("Row", bound=Checked)


class CheckAnswer(StrEnum):
    """What one check call got."""

    FINE = "fine"  # pressed 1
    HELP = "help"  # pressed 9
    NO_ANSWER = "no_answer"  # no answer, busy, machine, no key, or the call failed


KEYS = {"1": CheckAnswer.FINE, "9": CheckAnswer.HELP}
# A key outranks every other status (as on escalation calls): 1 accepted, 9 declined.
_SETTLED = {CheckAnswer.FINE: AttemptStatus.ACCEPTED, CheckAnswer.HELP: AttemptStatus.DECLINED}


def spoken_body(language: str, *, centre: str, ask: str | None = None) -> str:
    """The call's texts as the outbox stores them (TwiML is built at send time); `ask` replaces
    the wellbeing greeting (a sweep's message), followed by the keys to press."""
    lang = language_of(language)
    text = (t(lang, "wellbeing.ask", centre=centre) if ask is None
            else f"{ask} {t(lang, 'wellbeing.repeat')}")
    return json.dumps({"language": VOICE_LANGUAGES[lang], "text": text,
                       "repeat": t(lang, "wellbeing.repeat"),
                       "goodbye": t(lang, "wellbeing.goodbye")}, ensure_ascii=False)


def resident_send(*, to_number: str, channel: NotifyChannel, purpose: Purpose, body: str,
                  now: datetime) -> dict[str, Any]:
    """The column values of an outbox row to a resident below every alarm (no alert: nothing
    is wrong yet): a check call, or a sweep's SMS or LINE message. The sweep inserts them in
    one executemany, the wellbeing scheduler builds its rows from them."""
    return {"alert_id": None, "target": Target.RESIDENT.value, "to_number": to_number,
            "channel": channel.value, "purpose": purpose.value, "priority": CHECK_PRIORITY,
            "body": body, "created_at": now, "not_before": now}


def check_call_values(*, to_number: str, language: str, centre: str, now: datetime,
                      purpose: Purpose = Purpose.WELLBEING,
                      ask: str | None = None) -> dict[str, Any]:
    """The column values of a check call to a resident."""
    return resident_send(to_number=to_number, channel=NotifyChannel.VOICE, purpose=purpose,
                         body=spoken_body(language, centre=centre, ask=ask), now=now)


def check_call(*, to_number: str, language: str, centre: str, now: datetime,
               purpose: Purpose = Purpose.WELLBEING, ask: str | None = None) -> NotificationAttempt:
    """The outbox row of a check call to a resident."""
    return NotificationAttempt(**check_call_values(to_number=to_number, language=language,
                                                   centre=centre, now=now, purpose=purpose,
                                                   ask=ask))


def press(attempt: NotificationAttempt, digits: str, *, now: datetime,
          metrics: Metrics) -> CheckAnswer | None:
    """A key on a check call: 1 or 9 settles the attempt; any other key is no answer (None)."""
    answer = KEYS.get(digits.strip()[:1])
    if answer is not None:
        settle(attempt, _SETTLED[answer], now=now, metrics=metrics)
    return answer


def reply(answer: CheckAnswer | None, language: str) -> str:
    """What the resident hears after pressing a key."""
    key = {CheckAnswer.FINE: "wellbeing.fine", CheckAnswer.HELP: "wellbeing.help"}.get(
        answer or CheckAnswer.NO_ANSWER, "wellbeing.invalid")
    return t(language_of(language), key)


def result_of(attempt: NotificationAttempt) -> CheckAnswer | None:
    """The answer a finished call got; None while it is still queued or on the line."""
    status = AttemptStatus(attempt.status)
    if status is AttemptStatus.ACCEPTED:
        return CheckAnswer.FINE
    if status is AttemptStatus.DECLINED:
        return CheckAnswer.HELP
    return CheckAnswer.NO_ANSWER if status.is_final else None


async def claim_tries(session: AsyncSession, rows: Sequence[Row], *, waiting: str, calling: str,
                      now: datetime, look_after: timedelta) -> list[Row]:
    """Take one more try of each resident's check (wellbeing windows or sweep entries, one
    model) with one conditional UPDATE: still waiting, same number of tries. Returns the rows
    claimed here, not by another replica, updated in the session as in the database."""
    if not rows:
        return []
    model = type(rows[0])
    due = now + look_after
    claimed = set((await session.exec(  # type: ignore[call-overload]
        update(model)
        # the ids alone too: SQLite reads the rows by key, not every row in the waiting state
        .where(col(model.id).in_([r.id for r in rows]),
               tuple_(col(model.id), col(model.tries)).in_([(r.id, r.tries) for r in rows]),
               col(model.state) == waiting)
        .values(state=calling, tries=model.tries + 1, updated_at=now, due_at=due)
        .returning(col(model.id))
        .execution_options(synchronize_session=False))).scalars())
    ours = [row for row in rows if row.id in claimed]
    for row in ours:  # as the UPDATE left them, without reading them back
        for name, value in (("state", calling), ("tries", row.tries + 1), ("updated_at", now),
                            ("due_at", due)):
            set_committed_value(row, name, value)
    return ours
