"""Stories: a call speaks the callee's language with the configured neural voice, end to end."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sqlmodel import col, update

from alert_gateway.clock import FakeClock
from alert_gateway.console.board_data import board_rows
from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.models import Contact, Resident
from alert_gateway.i18n import t
from alert_gateway.outbox.texts import AlertFacts, alert_voice
from tests.harness import device_client

from .env import DAUGHTER, RESIDENT_PHONE, SON, escalation_env, seed


async def _speaks_english(url: str, model: type[Resident] | type[Contact], phone: str) -> None:
    engine = make_engine(url)
    async with make_sessions(engine)() as s:
        await s.exec(update(model).where(col(model.phone) == phone)  # type: ignore[call-overload]
                     .values(language="en"))
        await s.commit()
    await engine.dispose()


def _says(twiml: str) -> list[tuple[str, str | None, str | None]]:
    """(text, language, voice) of every <Say>, nested in a Gather or not."""
    return [(s.text or "", s.get("language"), s.get("voice"))
            for s in ET.fromstring(twiml.encode()).iter("Say")]


async def test_an_english_resident_hears_english_and_her_1_reads_as_fine(
    sqlite_url: str, topic_root: str, clock: FakeClock
) -> None:
    """Prompt, keys, confirmation and voice are English; the timeline and board say "fine"."""
    await seed(sqlite_url, resident_phone=RESIDENT_PHONE)
    await _speaks_english(sqlite_url, Resident, RESIDENT_PHONE)
    async with escalation_env(sqlite_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control(f"/_fake/phones/{RESIDENT_PHONE}", {"press": "1"})
        await dev.alarm("pendant-1", "m-1", "sos")
        [call] = await env.until_fake(lambda f: [c for c in f.calls.values() if c.finished])
        assert call.to == RESIDENT_PHONE and call.digits == ["1"]
        assert call.spoken[0] == t("en", "voice.resident")  # "Press 1 if you are fine, 9 ..."
        assert call.keys == ["1", "9"]  # what the phones page offers
        prompt = _says(call.param("Twiml") or "")
        assert {(lang, voice) for _, lang, voice in prompt} == {("en-US", "Polly.Joanna-Neural")}
        [(reply, lang, voice)] = _says(call.replies[0])
        assert (reply, lang, voice) == (t("en", "voice.resident_ok"), "en-US", "Polly.Joanna-Neural")

        alert = await env.changes.until(env.alert)
        assert alert is not None and alert.id is not None
        events = await env.changes.until(
            lambda: _with_kind(env, alert.id or 0, "resident_fine"))
        assert not [e for e in events if e.kind == "acknowledged"]
        async with env.gateway.services.sessions() as s:
            [row] = [r for r in await board_rows(s) if r.alert.id == alert.id]
        assert [p.state for p in row.progress if p.who == ""] == ["resident_fine"]
        assert env.sent(DAUGHTER, "Calls") == []


async def _with_kind(env: object, alert_id: int, kind: str) -> list[object] | None:
    from .env import Env

    assert isinstance(env, Env)
    events = await env.timeline(alert_id)
    return list(events) if any(e.kind == kind for e in events) else None


async def test_an_english_contact_hears_in_english_who_took_the_alert(
    sqlite_url: str, topic_root: str, clock: FakeClock
) -> None:
    """She presses 1 after her brother was recorded as going: "already ... by 山田 一郎", in English."""
    await seed(sqlite_url)
    await _speaks_english(sqlite_url, Contact, DAUGHTER)
    async with escalation_env(sqlite_url, topic_root, clock, voice_en="Polly.Matthew-Neural") as env, \
            device_client(topic_root, clock=clock) as dev:
        await env.control(f"/_fake/phones/{DAUGHTER}", {"press": "wait"})
        await dev.alarm("pendant-1", "m-1", "sos")
        [call] = await env.until_fake(lambda f: [c for c in f.calls.values() if c.waiting])
        assert call.keys == ["1", "2"] and "Press 1 if you can go" in call.spoken[0]
        alert = await env.changes.until(env.alert)
        assert alert is not None
        [son] = await env.rows(Contact, phone=SON)
        token = await env.api_token()
        await env.api_post(token, f"/alerts/{alert.id}/acknowledge", {"contact_id": son.id})
        await env.control(f"/_fake/calls/{call.sid}/press", {"digits": "1"})
        await env.until_fake(lambda f: call.finished)
        [(reply, lang, voice)] = _says(call.replies[0])
        assert (lang, voice) == ("en-US", "Polly.Matthew-Neural")
        assert reply == t("en", "voice.already", taker="山田 一郎"), reply


def test_the_dispatch_centre_has_its_own_script() -> None:
    """Alarm, resident, address and "press 1 to take it": not the family's "1 go, 2 can't"."""
    facts = AlertFacts("山田 花子", "smoke", "金沢市広坂1-1-1")
    for lang in ("ja", "en"):
        spoken = alert_voice(lang, facts, dispatch=True)
        family = alert_voice(lang, facts)
        assert spoken.text != family.text and "金沢市広坂1-1-1" in spoken.text
        assert "山田 花子" in spoken.text and spoken.repeat == spoken.text
    assert "担当する場合は1" in alert_voice("ja", facts, dispatch=True).text
    assert "Press 1 to take it" in alert_voice("en", facts, dispatch=True).text
