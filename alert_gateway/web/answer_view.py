"""What the answer page shows for a link: pure decisions over rows already loaded (no I/O), and
the page's values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..bus import AlertChange
from ..db.answer_links import Answer
from ..db.models import ACTIVE_STATUSES, Alert, AnswerLink, ResponderState


@dataclass(frozen=True)
class Shown:
    """The page's state: a notice (catalogue key under `page.`) and the buttons offered."""

    notice: str | None
    choices: tuple[Answer, ...] = ()
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Page:
    """Everything the template shows, read inside the transaction (plain values only)."""

    lang: str
    heading: str
    when: str
    address: str
    notice: str | None
    choices: tuple[str, ...]  # an alert link's Answer values, or a sweep link's fine / help
    message: str | None = None
    status: int = 200
    changes: list[AlertChange] = field(default_factory=list)
    answered: bool = False  # this request's answer was applied
    plain: str | None = None  # a refusal: the key of a plain page instead


def plain(key: str, status: int) -> Page:
    """A refusal shown as a plain page in Japanese and English."""
    return Page("ja", "", "", "", None, (), status=status, plain=key)


def is_closed(alert: Alert | None) -> bool:
    """A link dies with its alert: resolved, cancelled, or gone."""
    return alert is None or alert.status not in ACTIVE_STATUSES


def is_expired(link: AnswerLink, now: datetime) -> bool:
    """Past the link's own lifetime (answer_link_hours)."""
    return now >= link.expires_at


def shown(alert: Alert, link: AnswerLink, responder: str | None, *, taker: str,
          taken_at: str) -> Shown:
    """What the contact of an open link sees: their choices follow how far they have come."""
    if is_closed(alert):
        if alert.acknowledged_at is not None:
            return Shown("closed_taken", params={"taker": taker})
        return Shown("closed")
    if alert.acknowledged_at is not None:
        mine = alert.acknowledged_by == f"contact:{link.contact_id}" or responder in (
            ResponderState.ACCEPTED.value, ResponderState.ARRIVED.value)
        if not mine:
            return Shown("taken", params={"taker": taker, "time": taken_at})
        if responder == ResponderState.ARRIVED.value:
            return Shown("arrived")
        return Shown("you_accepted", (Answer.ARRIVE,))
    if responder == ResponderState.DECLINED.value:
        return Shown("you_declined", (Answer.ACCEPT,))
    return Shown(None, (Answer.ACCEPT, Answer.DECLINE))
