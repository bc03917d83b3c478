"""TwiML builders and webhook signature checks (pure, no network)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from multidict import MultiDict
from twilio.request_validator import RequestValidator

from alert_gateway.twilio.signature import check_signature, expected_signature
from alert_gateway.twilio.twiml import alert_call_twiml, messaging_reply, reply_twiml

from .conftest import AUTH_TOKEN, make_settings

PARAMS = {"CallSid": "CA" + "0" * 32, "Digits": "1"}


def sign(url: str, params: object) -> str:
    """The signature Twilio would send for `url` and `params`."""
    return str(RequestValidator(AUTH_TOKEN).compute_signature(url, params))


def test_alert_call_gathers_twice_then_hangs_up() -> None:
    """The alert is said in a Gather, repeated in a second Gather, then goodbye and Hangup."""
    xml = alert_call_twiml(text="緊急です", language="ja-JP", action_url="https://gw/a?x=1&y=2",
                           repeat_text="繰り返します", goodbye_text="失礼します",
                           voice="Polly.Kazuha-Neural")
    root = ET.fromstring(xml.encode())
    assert [el.tag for el in root] == ["Gather", "Gather", "Say", "Hangup"]
    for gather, text in zip(root[:2], ["緊急です", "繰り返します"], strict=True):
        assert gather.attrib == {"action": "https://gw/a?x=1&y=2", "method": "POST",
                                 "numDigits": "1", "timeout": "8"}
        (say,) = gather
        assert (say.text, say.get("language"), say.get("voice")) == (text, "ja-JP",
                                                                   "Polly.Kazuha-Neural")
    assert root[2].text == "失礼します"


def test_reply_and_messaging_twiml() -> None:
    """A keypress reply says one line and hangs up; an SMS reply is one Message or nothing."""
    assert [el.tag for el in ET.fromstring(reply_twiml("了解", "ja-JP").encode())] == [
        "Say", "Hangup"]
    assert "<Message>了解しました</Message>" in messaging_reply("了解しました")
    assert messaging_reply(None).endswith("<Response />")


def test_signature_over_public_url_is_accepted() -> None:
    """A signature over public_url + path_qs passes, with a MultiDict or a plain dict."""
    settings = make_settings("http://api", "https://gw.example.org/")
    signature = sign("https://gw.example.org/twilio/voice/gather?attempt=3", PARAMS)
    for params in (PARAMS, MultiDict(PARAMS)):
        assert check_signature(settings, path_qs="/twilio/voice/gather?attempt=3",
                               params=params, signature=signature)


def test_signature_over_another_base_is_rejected() -> None:
    """Signed for the internal address, checked against the public URL: refused."""
    settings = make_settings("http://api", "https://gw.example.org")
    signature = sign("http://127.0.0.1:8080/twilio/voice/gather?attempt=3", PARAMS)
    assert not check_signature(settings, path_qs="/twilio/voice/gather?attempt=3",
                               params=PARAMS, signature=signature)


def test_signature_missing_or_tampered_is_rejected() -> None:
    """No header, a changed parameter or a changed query string all fail."""
    settings = make_settings("http://api", "https://gw.example.org")
    url = "https://gw.example.org/twilio/sms/status?attempt=1"
    signature = sign(url, PARAMS)
    path = "/twilio/sms/status?attempt=1"
    assert not check_signature(settings, path_qs=path, params=PARAMS, signature=None)
    assert not check_signature(settings, path_qs=path, params={**PARAMS, "Digits": "2"},
                               signature=signature)
    assert not check_signature(settings, path_qs="/twilio/sms/status?attempt=2", params=PARAMS,
                               signature=signature)


def test_repeated_params_are_all_signed() -> None:
    """Repeated fields (a MultiDict) are part of the signature, as Twilio computes it."""
    settings = make_settings("http://api", "https://gw")
    params = MultiDict([("E", "a"), ("E", "b")])
    signature = sign("https://gw/h", params)
    assert check_signature(settings, path_qs="/h", params=params, signature=signature)
    assert not check_signature(settings, path_qs="/h", params={"E": "a"}, signature=signature)


def test_expected_signature_is_the_sdks() -> None:
    """The signature we compute is the SDK's, with repeated and non-ASCII fields too."""
    form: MultiDict[str] = MultiDict([("CallStatus", "completed"), ("StatusCallbackEvent", "ringing"),
                                      ("StatusCallbackEvent", "answered"),
                                      ("StatusCallbackEvent", "ringing"), ("Body", "はい 1"),
                                      ("Empty", "")])
    url = "https://gw.example.org/twilio/voice/status?attempt=7"
    for params in (form, PARAMS, {}):
        assert expected_signature(AUTH_TOKEN, url, params) == sign(url, params)
