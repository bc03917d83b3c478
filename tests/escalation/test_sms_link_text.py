"""The alert SMS with its answer link: the link is never cut, the address is shortened first."""

from __future__ import annotations

from alert_gateway.outbox.texts import AlertFacts, alert_sms, exhausted_sms, segments

LINK = "https://gateway.example.lg.jp/r/" + "A" * 22
LONG_ADDRESS = "石川県金沢市広坂一丁目一番一号 市役所第二本庁舎 三階 福祉課の隣の部屋 " * 4


def test_the_link_survives_any_address_in_both_languages() -> None:
    """Three segments at most; the link whole at the end; the reply code still there."""
    for lang in ("ja", "en"):
        for address in ("金沢市広坂1-1-1", LONG_ADDRESS):
            body = alert_sms(lang, AlertFacts("山田 花子", "sos", address), "B", LINK)
            assert body.endswith(LINK) and segments(body) <= 3, body
            assert "1B" in body and "山田 花子" in body, body
        short = alert_sms(lang, AlertFacts("山田 花子", "sos", "金沢市広坂1-1-1"), None, LINK)
        assert "金沢市広坂1-1-1" in short
    assert exhausted_sms("ja", AlertFacts("山田 花子", "sos", LONG_ADDRESS), LINK).endswith(LINK)


def test_a_technical_notice_and_an_sms_without_link_keep_two_segments() -> None:
    """Without a link nothing changes: two segments, no answer line."""
    body = alert_sms("ja", AlertFacts("山田 花子", "sos", LONG_ADDRESS))
    assert segments(body) <= 2 and "回答" not in body
    notice = alert_sms("ja", AlertFacts("山田 花子", "low_battery", None, technical=True))
    assert "急ぎではありません" in notice and "http" not in notice
