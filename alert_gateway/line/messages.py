"""What a LINE alert says and its buttons; the postback data a tap sends back.

The outbox row's body holds the text and the recipient as JSON (planned before the row has an
id); the buttons, whose postback data names the attempt, are built when it is sent.
Limits: https://developers.line.biz/en/reference/messaging-api/#buttons (text ≤ 160, label ≤ 20,
data ≤ 300).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

from linebot.v3.messaging import ButtonsTemplate, Message, PostbackAction, TemplateMessage, TextMessage

from ..db.answer_links import Answer
from ..i18n import language_of, t
from ..outbox.texts import AlertFacts

TEXT_LIMIT = 160  # a buttons template's text without a title or image
ALT_LIMIT = 400


@dataclass(frozen=True, slots=True)
class Postback:
    """A tap on one of our buttons: which answer, about which attempt."""

    answer: Answer
    attempt_id: int


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _alarm(lang: str, alarm_type: str) -> str:
    try:
        return t(lang, f"alarm.{alarm_type}")
    except KeyError:
        return t(lang, "alarm.unknown")


def alert_body(lang: str, facts: AlertFacts, *, to: str) -> str:
    """The outbox body of a LINE alert: recipient, language, text, and whether it has buttons."""
    lang = language_of(lang)
    alarm = _alarm(lang, facts.alarm_type)
    if facts.technical:
        text = t(lang, "line.technical", name=facts.resident_name, alarm=alarm)
    else:
        text = t(lang, "line.alert", name=facts.resident_name, alarm=alarm,
                 address=facts.address or t(lang, "sms.address_unknown"))
    return json.dumps({"to": to, "language": lang, "text": _cut(text, TEXT_LIMIT),
                       "buttons": not facts.technical}, ensure_ascii=False)


def recipient(body: str | None) -> str:
    """The LINE user id an outbox body is for ('' when it names none)."""
    return str(json.loads(body or "{}").get("to", ""))


def postback_data(answer: Answer, attempt_id: int) -> str:
    """The data a button sends back."""
    return urlencode({"a": answer.value, "attempt": attempt_id})


def parse_postback(data: str) -> Postback | None:
    """Our postback data as typed values; None for anything we did not send."""
    try:
        fields = parse_qs(data[:300], max_num_fields=2, strict_parsing=True)
        answer = Answer(fields["a"][0])
        attempt = fields["attempt"][0]
    except (KeyError, ValueError):  # ValueError also for more fields than ours
        return None
    if not attempt.isdigit() or len(attempt) > 9:
        return None
    return Postback(answer, int(attempt))


def buttons(lang: str, attempt_id: int, answers: tuple[Answer, ...]) -> list[PostbackAction]:
    """One postback button per answer, labelled in the contact's language."""
    return [PostbackAction(label=t(lang, f"line.{a.value}"), data=postback_data(a, attempt_id),
                           display_text=t(lang, f"line.{a.value}")) for a in answers]


def alert_message(body: str | None, attempt_id: int) -> Message:
    """The message to push for an outbox row: the alert text with accept / decline / arrived."""
    spec = json.loads(body or "{}")
    text, lang = str(spec.get("text", "")), language_of(spec.get("language"))
    if not spec.get("buttons"):
        return TextMessage(text=text)
    return TemplateMessage(alt_text=_cut(text, ALT_LIMIT), template=ButtonsTemplate(
        text=text, actions=buttons(lang, attempt_id, (Answer.ACCEPT, Answer.DECLINE, Answer.ARRIVE))))
