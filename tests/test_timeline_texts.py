"""Timeline texts: every key renders in Japanese and English with the same parameters; people,
languages and catalogue words are resolved when read; old entries show as stored."""

from __future__ import annotations

import string
from datetime import UTC, datetime

import pytest

from alert_gateway.alerts.opening import further
from alert_gateway.console.alert_data import AlertPage
from alert_gateway.db.alerts import Alert, AlertEvent
from alert_gateway.db.escalation import Target
from alert_gateway.escalation.planner_types import Person
from alert_gateway.i18n import LANGUAGES, catalogue
from alert_gateway.i18n.said import language, person, say, stored, term

_TIMELINE = ("timeline.", "who.", "channel.", "hours.", "language.", "list.")


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _keys() -> list[str]:
    return sorted(k for k in catalogue("ja") if k.startswith(_TIMELINE))


def test_both_catalogues_have_the_same_keys() -> None:
    """No text of any domain (console, SMS, voice, timeline) is missing in one language."""
    ja, en = catalogue("ja"), catalogue("en")
    assert set(ja) ^ set(en) == set()


@pytest.mark.parametrize("key", _keys())
def test_each_timeline_key_renders_in_both_languages(key: str) -> None:
    """Same placeholders in both languages; filled in, nothing of the template is left over."""
    ja, en = catalogue("ja")[key], catalogue("en")[key]
    assert _fields(ja) == _fields(en), key
    params = {name: f"<{name}>" for name in _fields(en)}
    for lang in LANGUAGES:
        shown = say(key, **params).render(lang)
        assert "{" not in shown and all(f"<{n}>" in shown for n in params), (lang, shown)


def test_people_are_shown_by_their_current_name() -> None:
    """A contact reference shows the name the reader's page knows, else the one stored."""
    said = say("timeline.alert.arrived", who=person("contact:3", "山田 京子"))
    assert said.english == "山田 京子 arrived"
    assert said.render("ja", {"contact:3": "佐藤 京子"}) == "佐藤 京子 が到着しました"
    assert say("timeline.alert.arrived", who=person("contact:9")).render("en") == "contact:9 arrived"


def test_languages_and_words_are_translated() -> None:
    """A language code shows as its name, a channel or alarm type as the reader's word."""
    said = say("timeline.alert.declined", channel=term("channel.voice"))
    assert (said.render("ja"), said.english) == ("音声通話 で辞退されました", "declined by voice")
    spoken = say("timeline.alert.declined", channel=language("en"))
    assert (spoken.render("ja"), spoken.render("en")) == ("英語 で辞退されました", "declined by English")
    assert say("timeline.alert.declined", channel=language("ja")).render("en") == "declined by Japanese"
    alarm = say("timeline.alarm.received", alarm=term("alarm.fall"))
    assert (alarm.render("ja"), alarm.english) == ("転倒の通報を受信しました", "fall alarm received")


def test_a_further_alarm_wraps_the_text_of_the_first() -> None:
    """「追加: …」 renders the inner text in the reader's language too."""
    inner = say("timeline.device.offline_silent", device="p-1", seconds=900)
    said = further(inner)
    assert said.english == "further: device p-1 offline: silent for 900 s"
    assert said.render("ja") == "追加: 機器 p-1 がオフライン: 900 秒間応答なし"


def test_a_step_notifying_two_people_lists_them_with_their_relation() -> None:
    """「山田 京子(家族)、山田 一郎(家族)」 in Japanese, commas and brackets in English."""
    people = [Person(Target.CONTACT, 1, "山田 京子", "+8190", relation="family"),
              Person(Target.CONTACT, 2, "山田 一郎", "+8190", relation="family")]
    said = say("timeline.escalation.notifying", step=1, who=[p.with_role() for p in people],
               how=[term("channel.voice"), term("channel.sms")], seconds=300)
    assert said.render("ja") == ("ステップ 1: 山田 京子(家族)、山田 一郎(家族) に 音声通話、SMS で"
                                 "連絡中、300 秒待ちます")
    assert said.english == ("step 1: notifying 山田 京子 (family), 山田 一郎 (family) by voice, SMS; "
                            "waiting 300 s")


def test_an_entry_from_before_message_keys_shows_as_stored() -> None:
    """Rows written before keys keep their English message; actors still show by name."""
    now = datetime(2026, 12, 6, tzinfo=UTC)
    old = AlertEvent(alert_id=1, at=now, kind="note", actor="contact:1", message="legacy text")
    page = AlertPage(alert=Alert(type="sos", severity="P1", opened_at=now, updated_at=now),
                     resident=None, age=None, map_url=None, device=None, devices=[], contacts=[],
                     other_attempts=[], timeline=[old], earlier=[], escalation=None,
                     names={"contact:1": "山田 京子"})
    assert stored(old.data) is None
    assert (page.who(old.actor, "ja"), page.text(old, "ja")) == ("山田 京子", "legacy text")
    assert page.who("system", "ja") == "システム" and page.who("device:p-1", "en") == "device p-1"
    gone = AlertEvent(alert_id=1, at=now, kind="note", message="as written then",
                      data=say("timeline.no_longer_there", n=1).data())
    assert page.text(gone, "ja") == "as written then"  # a key since removed never breaks the page
