"""An alarm call's TwiML is what the Twilio SDK's builder would write, character for character."""

from __future__ import annotations

import pytest
from twilio.twiml.voice_response import Gather, VoiceResponse

from alert_gateway.twilio.twiml import GATHER_TIMEOUT_SECONDS, alert_call_twiml


def _by_the_sdk(*, text: str, language: str, action_url: str, repeat_text: str,
                goodbye_text: str, voice: str | None) -> str:
    """The SDK's element tree, as the call's TwiML was built before the template."""
    extra = {"voice": voice} if voice else {}
    vr = VoiceResponse()
    for spoken in (text, repeat_text):
        gather = Gather(num_digits=1, action=action_url, method="POST",
                        timeout=GATHER_TIMEOUT_SECONDS)
        gather.say(spoken, language=language, **extra)
        vr.append(gather)
    vr.say(goodbye_text, language=language, **extra)
    vr.hangup()
    return str(vr)


@pytest.mark.parametrize(("text", "voice"), [
    ("緊急通報です。山田花子さんから非常ボタンの通報がありました。1を押してください。", "Polly.Mizuki"),
    ("SOS from Hanako <pendant> & \"kitchen\" 'pull cord'\nline\ttab\rend", None),
    ("", "Polly.Joanna"),
])
def test_the_alarm_call_says_what_the_sdk_would(text: str, voice: str | None) -> None:
    """Template and SDK agree on escaping, empty texts and the optional voice."""
    kw = {"text": text, "language": "ja-JP", "repeat_text": f"もう一度: {text}",
          "goodbye_text": "" if not text else "さようなら & <bye>", "voice": voice,
          "action_url": 'https://gw.example/twilio/voice/gather?attempt=7&sig="a<b>"\n'}
    assert alert_call_twiml(**kw) == _by_the_sdk(**kw)
