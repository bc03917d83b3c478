"""SMS and voice texts for one alert, short and segment-aware; never medical data or key codes."""

from __future__ import annotations

from dataclasses import dataclass

from ..i18n import language_of, t

MAX_SEGMENTS = 2  # an alert SMS fits in two segments; the address is shortened first
# ... three with an answer link (~50 characters of URL): the link is never cut, and a UCS-2 text
# (any Japanese name) would otherwise lose most of the address to it
MAX_SEGMENTS_WITH_LINK = 3
GSM_SINGLE, GSM_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67
VOICE_LANGUAGES = {"ja": "ja-JP", "en": "en-US"}


def segments(text: str) -> int:
    """SMS segments: GSM-7 for plain ASCII, else UCS-2 (Japanese: 70 characters, 67 when split)."""
    single, multi = (GSM_SINGLE, GSM_MULTI) if text.isascii() else (UCS2_SINGLE, UCS2_MULTI)
    return 1 if len(text) <= single else -(-len(text) // multi)


def max_chars(text: str, max_segments: int) -> int:
    """How many characters `max_segments` segments hold for text like this."""
    single, multi = (GSM_SINGLE, GSM_MULTI) if text.isascii() else (UCS2_SINGLE, UCS2_MULTI)
    return single if max_segments == 1 else multi * max_segments


def fit(text: str, max_segments: int = MAX_SEGMENTS) -> str:
    """Cut a text to `max_segments` segments (with an ellipsis) when it is longer."""
    limit = max_chars(text, max_segments)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """What a notification may say about an alert: who, what, where (no medical data)."""

    resident_name: str
    alarm_type: str
    address: str | None
    technical: bool = False


def alarm_name(lang: str, alarm_type: str) -> str:
    """The alarm type as people read it (unknown types read as an unknown alarm)."""
    try:
        return t(lang, f"alarm.{alarm_type}")
    except KeyError:
        return t(lang, "alarm.unknown")


def _with_link(lang: str, body: str, link: str | None) -> str:
    """The text cut to two segments before the link, which is never cut."""
    if link is None:
        return fit(body)
    tail = "\n" + t(lang, "sms.link", link=link)
    limit = max_chars(body + tail, MAX_SEGMENTS_WITH_LINK)
    if len(body) + len(tail) > limit:
        body = body[: max(limit - len(tail) - 1, 0)] + "…"
    return body + tail


def alert_sms(lang: str, facts: AlertFacts, code: str | None = None,
              link: str | None = None) -> str:
    """The escalation SMS, with the answer link when there is one; the address is shortened so
    the whole text stays within two segments."""
    lang = language_of(lang)
    alarm = alarm_name(lang, facts.alarm_type)
    if facts.technical:
        return fit(t(lang, "sms.technical", name=facts.resident_name, alarm=alarm))
    suffix = code or ""
    address = facts.address or t(lang, "sms.address_unknown")
    tail = "" if link is None else "\n" + t(lang, "sms.link", link=link)
    body = t(lang, "sms.alert", name=facts.resident_name, alarm=alarm, address=address,
             yes=f"1{suffix}", no=f"2{suffix}")
    over = len(body) + len(tail) - max_chars(
        body + tail, MAX_SEGMENTS if link is None else MAX_SEGMENTS_WITH_LINK)
    if over > 0 and len(address) > over + 1:
        body = t(lang, "sms.alert", name=facts.resident_name, alarm=alarm,
                 address=address[: len(address) - over - 1] + "…", yes=f"1{suffix}", no=f"2{suffix}")
    return _with_link(lang, body, link)


def exhausted_sms(lang: str, facts: AlertFacts, link: str | None = None) -> str:
    """To the dispatch centre: nobody answered."""
    lang = language_of(lang)
    return _with_link(lang, t(lang, "sms.exhausted", name=facts.resident_name,
                              alarm=alarm_name(lang, facts.alarm_type), address=facts.address or ""),
                      link)


def notice_sms(lang: str, key: str, **params: object) -> str:
    """A short notice (taken, cancelled, summary, replies) in one segment where possible."""
    return fit(t(language_of(lang), f"sms.{key}", **params))


@dataclass(frozen=True, slots=True)
class Spoken:
    """What a call says: the message, its repeat, and the goodbye."""

    language: str  # BCP-47 for <Say>
    text: str
    repeat: str
    goodbye: str


def alert_voice(lang: str, facts: AlertFacts, *, exhausted: bool = False,
                dispatch: bool = False) -> Spoken:
    """A contact's call: who, what, where, then 1 = go, 2 = can't. The dispatch centre has its
    own script (alarm, resident, address, 1 = take it), as has "nobody answered"."""
    lang = language_of(lang)
    params = {"name": facts.resident_name, "alarm": alarm_name(lang, facts.alarm_type),
              "address": facts.address or t(lang, "sms.address_unknown")}
    key = "voice.exhausted" if exhausted else "voice.dispatch" if dispatch else "voice.alert"
    text = t(lang, key, **params)
    repeat = text if exhausted or dispatch else t(lang, "voice.repeat", **params)
    return Spoken(VOICE_LANGUAGES[lang], text, repeat, t(lang, "voice.goodbye"))


def resident_voice(lang: str) -> Spoken:
    """The resident's call: 1 = fine, 9 = help."""
    lang = language_of(lang)
    return Spoken(VOICE_LANGUAGES[lang], t(lang, "voice.resident"), t(lang, "voice.resident_repeat"),
                  t(lang, "voice.goodbye"))
