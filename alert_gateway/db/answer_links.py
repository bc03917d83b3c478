"""One-tap answer links: a random token in each alert SMS, stored only as its hash."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from .types import enum_field


class Answer(StrEnum):
    """What a contact can answer about an alert, by a link, a LINE button or an SMS reply."""

    ACCEPT = "accept"  # 向かいます
    DECLINE = "decline"  # 行けません
    ARRIVE = "arrive"  # 到着しました


class AnswerLink(SQLModel, table=True):
    """A link `{public_url}/r/{token}` bound to one contact and one alert.

    Only the SHA-256 of the token is kept: someone reading the table cannot answer for a contact.
    `answer` is the last answer given through this link (accept, decline, arrive), so a replayed
    form does not act twice.
    """

    token_hash: str = Field(primary_key=True, max_length=64)
    alert_id: int = Field(foreign_key="alert.id", index=True)
    contact_id: int = Field(foreign_key="contact.id")
    created_at: datetime
    expires_at: datetime
    answer: str | None = enum_field(None, length=16)
    answered_at: datetime | None = None
