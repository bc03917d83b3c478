"""Pure TwiML builders for alert calls and SMS replies (no I/O)."""

from __future__ import annotations

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Gather, VoiceResponse

GATHER_TIMEOUT_SECONDS = 8


def _say(target: VoiceResponse | Gather, text: str, language: str, voice: str | None) -> None:
    """Say `text`; without a voice, Twilio's default for the language reads it."""
    if voice:
        target.say(text, language=language, voice=voice)
    else:
        target.say(text, language=language)


def _gather(action_url: str) -> Gather:
    return Gather(
        num_digits=1, action=action_url, method="POST", timeout=GATHER_TIMEOUT_SECONDS
    )


def alert_call_twiml(
    *,
    text: str,
    language: str,
    action_url: str,
    repeat_text: str,
    goodbye_text: str,
    voice: str | None = None,
) -> str:
    """Say the alert and wait for one key; with no key, say it once more, then say goodbye."""
    vr = VoiceResponse()
    for spoken in (text, repeat_text):
        gather = _gather(action_url)
        _say(gather, spoken, language, voice)
        vr.append(gather)
    _say(vr, goodbye_text, language, voice)
    vr.hangup()
    return str(vr)


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
