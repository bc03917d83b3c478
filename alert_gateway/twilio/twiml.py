"""Pure TwiML builders for alert calls and SMS replies (no I/O)."""

from __future__ import annotations

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

GATHER_TIMEOUT_SECONDS = 8


def _say(target: VoiceResponse, text: str, language: str, voice: str | None) -> None:
    """Say `text`; without a voice, Twilio's default for the language reads it."""
    if voice:
        target.say(text, language=language, voice=voice)
    else:
        target.say(text, language=language)


def _text(value: str) -> str:
    """XML character data, escaped as ElementTree (the SDK's TwiML) escapes it."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attribute(value: str) -> str:
    """An XML attribute value in double quotes, escaped as ElementTree escapes it."""
    return (_text(value).replace('"', "&quot;").replace("\r", "&#13;").replace("\n", "&#10;")
            .replace("\t", "&#09;"))


def alert_call_twiml(
    *,
    text: str,
    language: str,
    action_url: str,
    repeat_text: str,
    goodbye_text: str,
    voice: str | None = None,
) -> str:
    """Say the alert and wait for one key; with no key, say it once more, then say goodbye.

    Every alarm call carries one, so it is written from a template rather than through the SDK's
    element tree (≈ 0.1 ms a call, a tenth of a storm call's CPU); `tests/twilio/test_twiml.py`
    holds it to the SDK's output, character for character.
    """
    say = f'<Say language="{_attribute(language)}"'
    if voice:
        say += f' voice="{_attribute(voice)}"'
    gather = (f'<Gather action="{_attribute(action_url)}" method="POST" numDigits="1" '
              f'timeout="{GATHER_TIMEOUT_SECONDS}">')

    def said(spoken: str) -> str:
        return f"{say}>{_text(spoken)}</Say>" if spoken else f"{say} />"

    return (f'<?xml version="1.0" encoding="UTF-8"?><Response>{gather}{said(text)}</Gather>'
            f"{gather}{said(repeat_text)}</Gather>{said(goodbye_text)}<Hangup /></Response>")


def reply_twiml(text: str, language: str, *, voice: str | None = None) -> str:
    """The answer to a keypress: say one thing and hang up."""
    vr = VoiceResponse()
    _say(vr, text, language, voice)
    vr.hangup()
    return str(vr)


def bridge_twiml(*, say: str, language: str, number: str, caller_id: str, action_url: str,
                 ring_timeout: int) -> str:
    """Tell the operator who is being called, then dial them with the centre's number shown."""
    vr = VoiceResponse()
    _say(vr, say, language, None)
    dial = vr.dial(caller_id=caller_id, action=action_url, method="POST", timeout=ring_timeout)
    dial.number(number)
    return str(vr)


def hangup_twiml() -> str:
    """End the call without a word."""
    vr = VoiceResponse()
    vr.hangup()
    return str(vr)


def messaging_reply(text: str | None) -> str:
    """The TwiML answer to an inbound SMS; an empty <Response/> sends nothing back."""
    mr = MessagingResponse()
    if text:
        mr.message(text)
    return str(mr)
