"""What a LINE alert or a sweep's safety check says and its buttons; the postback data a tap
sends back.

The outbox row's body holds the text and the recipient as JSON (planned before the row has an
id); the buttons, whose postback data names the attempt, are built when it is sent (sdk.py).
Limits: https://developers.line.biz/en/reference/messaging-api/#buttons (text ≤ 160, label ≤ 20,
data ≤ 300).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

from ..db.answer_links import Answer
from ..i18n import language_of, t
from ..outbox.texts import AlertFacts
from ..wellbeing.check_call import CheckAnswer

TEXT_LIMIT = 160  # a buttons template's text without a title or image
ALT_LIMIT = 400
ALERT_ANSWERS = (Answer.ACCEPT.value, Answer.DECLINE.value, Answer.ARRIVE.value)  # a contact's
SWEEP_ANSWERS = (CheckAnswer.FINE.value, CheckAnswer.HELP.value)  # a resident's, in a sweep


@dataclass(frozen=True, slots=True)
class Postback:
    """A tap on one of our buttons: which answer (an ALERT_ANSWERS or SWEEP_ANSWERS value),
    about which attempt."""

    answer: str
    attempt_id: int


def cut(text: str, limit: int) -> str:
    """`text` within `limit` characters, an ellipsis marking a cut."""
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
    return json.dumps({"to": to, "language": lang, "text": cut(text, TEXT_LIMIT),
                       "buttons": not facts.technical}, ensure_ascii=False)


def sweep_body(lang: str, *, message: str, to: str, entry_id: int) -> str:
    """The outbox body of a sweep's LINE message: the supervisor's whole message as text, then
    無事です / 助けが必要 buttons; `entry` names the resident's sweep entry a tap answers."""
    lang = language_of(lang)
    return json.dumps({"to": to, "language": lang, "text": t(lang, "line.sweep", message=message),
                       "answers": list(SWEEP_ANSWERS), "entry": entry_id}, ensure_ascii=False)


def spec_of(body: str | None) -> dict[str, Any]:
    """An outbox body as written by alert_body or sweep_body ({} for none)."""
    spec = json.loads(body or "{}")
    return spec if isinstance(spec, dict) else {}


def entry_of(body: str | None) -> int | None:
    """The sweep entry a LINE outbox body names (None for an alert's)."""
    entry = spec_of(body).get("entry")
    return entry if isinstance(entry, int) else None


def recipient(body: str | None) -> str:
    """The LINE user id an outbox body is for ('' when it names none)."""
    return str(spec_of(body).get("to", ""))


def postback_data(answer: str, attempt_id: int) -> str:
    """The data a button sends back."""
    return urlencode({"a": answer, "attempt": attempt_id})


def parse_postback(data: str) -> Postback | None:
    """Our postback data as typed values; None for anything we did not send."""
    try:
        fields = parse_qs(data[:300], max_num_fields=2, strict_parsing=True)
        answer = fields["a"][0]
        attempt = fields["attempt"][0]
    except (KeyError, ValueError):  # ValueError also for more fields than ours
        return None
    if answer not in ALERT_ANSWERS + SWEEP_ANSWERS or not attempt.isdigit() or len(attempt) > 9:
        return None
    return Postback(answer, int(attempt))
