"""Click-to-call against the fake Twilio: the operator's phone rings first, then the callee."""

from __future__ import annotations

import re

import pytest
from aiohttp import ClientSession
from sqlmodel import col, select
from twilio.request_validator import RequestValidator

from alert_gateway.calls.numbers import is_emergency
from alert_gateway.console import accounts
from alert_gateway.db.alerts import AlertEvent
from alert_gateway.db.auth import Operator
from alert_gateway.db.residents import Contact, Resident
from alert_gateway.errors import InvalidInput
from alert_gateway.twilio.fake_state import FailRule

from .calls_env import ACCOUNT_SID, AUTH_TOKEN, CENTRE_NUMBER, OPERATOR_PHONE, Calling, calling
from .conftest import OPERATOR, SUPERVISOR

DAUGHTER = "+819011112222"  # 金沢 太郎 in factories.add_resident


async def _operator_id(env: Calling, name: str) -> int:
    async with env.console.services.sessions() as session:
        operator = (await session.exec(select(Operator).where(col(Operator.name) == name))).one()
    assert operator.id is not None
    return operator.id


async def _contact_id(env: Calling, phone: str) -> int:
    async with env.console.services.sessions() as session:
        contact = (await session.exec(select(Contact).where(col(Contact.phone) == phone))).one()
    assert contact.id is not None
    return contact.id


async def _call(env: Calling, callee: str, *, csrf: str | None = None) -> tuple[int, str]:
    token = csrf if csrf is not None else await env.csrf(OPERATOR)
    response = await env.console.client.post(
        f"/console/alerts/{env.alert_id}/call", data={"callee": callee, "csrf_token": token},
        headers={"Accept": "text/html"}, allow_redirects=False)
    return response.status, await response.text()


async def test_the_operator_answers_and_is_bridged_to_the_daughter(sqlite_url: str) -> None:
    """A supervisor sets the operator's phone; one click rings it, and once answered the daughter
    is dialled from the centre's number; the timeline tells who, how long and how it ended."""
    async with calling(sqlite_url) as env:
        operator_id = await _operator_id(env, OPERATOR)
        setting = {"phone": "090-5555-6666"}
        response = await env.console.client.post(  # an operator may not set phones
            f"/console/operators/{operator_id}/phone",
            data=setting | {"csrf_token": await env.csrf(OPERATOR)}, allow_redirects=False)
        assert response.status == 403, await response.text()
        response = await env.console.client.post(
            f"/console/operators/{operator_id}/phone", headers={"Accept": "text/html"},
            data={"phone": "119", "csrf_token": await env.csrf(SUPERVISOR)})
        assert response.status == 400 and "119・110 は設定できません" in await response.text()
        response = await env.console.client.post(
            f"/console/operators/{operator_id}/phone",
            data=setting | {"csrf_token": await env.csrf(SUPERVISOR)}, allow_redirects=False)
        assert response.status == 303, await response.text()
        daughter = f"contact:{await _contact_id(env, DAUGHTER)}"
        page = await env.timeline()
        for callee in ("resident", "gp", daughter):
            assert f'data-callee="{callee}"' in page, page
        assert (await _call(env, daughter, csrf="forged"))[0] == 403
        status, body = await _call(env, daughter)
        assert status == 303, body
        parent, leg = await env.bridge_of()
        assert parent.from_ == CENTRE_NUMBER and parent.param("MachineDetection") is None
        assert any("金沢 太郎 さんにおつなぎします" in s for s in parent.spoken), parent.spoken
        assert leg is not None, env.fake.recorded
        assert (leg.to, leg.from_, leg.parent_sid, leg.status) == (
            DAUGHTER, CENTRE_NUMBER, parent.sid, "completed")
        text = await env.timeline()
        assert f"金沢 太郎（{DAUGHTER}）に発信: まず担当者の電話 {OPERATOR_PHONE}" in text, text
        assert "担当者が応答しました。金沢 太郎 を呼び出しています" in text
        assert re.search(r"金沢 太郎 と通話しました（0分\d+秒）", text), text
        assert _ended(env, "talked") == 1


def _ended(env: Calling, outcome: str) -> float | None:
    return env.console.services.metrics.registry.get_sample_value(
        "alert_gateway_console_calls_total", {"outcome": outcome})


async def test_a_busy_daughter_a_missed_operator_phone_and_a_refusal_are_on_the_timeline(
        sqlite_url: str) -> None:
    """A busy callee ends the call as busy; an operator phone nobody answers dials nobody; a call
    Twilio refuses is said so on the page and on the timeline."""
    async with calling(sqlite_url) as env:
        await env.set_phone(OPERATOR, OPERATOR_PHONE)
        env.fake.phone(DAUGHTER).call = "busy"
        await _call(env, f"contact:{await _contact_id(env, DAUGHTER)}")
        await env.bridge_of()
        assert "金沢 太郎 は話し中でした" in await env.timeline()

        await env.fake.reset()
        env.fake.phone(OPERATOR_PHONE).call = "no-answer"
        await _call(env, "gp")
        parent, leg = await env.bridge_of()
        assert leg is None and parent.status == "no-answer"
        text = await env.timeline()
        assert (f"担当者の電話 {OPERATOR_PHONE} が応答しなかったため、金沢市民病院 には発信して"
                "いません") in text, text

        env.fake.fail_rules.append(FailRule(status=400, delay=0, count=1, code=21211))
        status, body = await _call(env, "resident")
        assert status == 502 and "発信できませんでした" in body, body
        assert "金沢 ハナ への発信を Twilio が受け付けませんでした" in await env.timeline()
        assert [_ended(env, o) for o in ("callee_busy", "operator_missed", "not_placed")] == [
            1, 1, 1]


async def test_a_leg_that_ends_with_no_result_for_the_callee_still_ends_the_call(
        sqlite_url: str) -> None:
    """When the operator's leg ends and no <Dial> result ever reached us (our answer webhook
    failed, so Twilio hung up), the call does not stay "ringing": the timeline says it ended."""
    async with calling(sqlite_url) as env:
        await env.set_phone(OPERATOR, OPERATOR_PHONE)
        env.fake.phone(OPERATOR_PHONE).call = "ring"
        status, body = await _call(env, "gp")
        assert status == 303, body
        ringing = await env.fake.wait_for(lambda fake: next(
            (c for c in fake.calls.values() if c.to == OPERATOR_PHONE and c.status == "ringing"),
            None))
        assert ringing is not None
        url = str(ringing.param("StatusCallback"))
        form = {"CallSid": ringing.sid, "AccountSid": ACCOUNT_SID, "CallStatus": "completed",
                "CallDuration": "4"}
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
        async with ClientSession() as http, http.post(
                url, data=form, headers={"X-Twilio-Signature": signature}) as response:
            assert response.status == 204, await response.text()
        text = await env.timeline()
        assert "担当者の通話が終了しました。金沢市民病院 との接続の結果は届いていません" in text, text
        assert _ended(env, "leg_ended") == 1


async def test_english_operator_reads_the_call_in_english(sqlite_url: str) -> None:
    """The entries are stored as message keys: an English console shows them in English."""
    async with calling(sqlite_url, desk_phone="+81762000000") as env:
        async with env.console.services.sessions() as session:
            operator = (await session.exec(
                select(Operator).where(col(Operator.name) == OPERATOR))).one()
            operator.language = "en"
            await session.commit()
        status, body = await _call(env, "resident")
        assert status == 303, body
        parent, leg = await env.bridge_of("+81762000000")  # no own phone: the desk line rings
        assert leg is not None and leg.to == "+81762201111"
        assert any("Connecting you to 金沢 ハナ" in s for s in parent.spoken), parent.spoken
        text = await env.timeline()
        assert "ringing the operator&#39;s phone +81762000000 first" in text, text
        assert re.search(r"Talked with 金沢 ハナ \(0 min \d+ s\)", text), text


async def test_calls_the_system_must_not_place_are_refused(sqlite_url: str) -> None:
    """No phone to ring first, an unknown callee and an emergency number are refused; 119 cannot
    be an operator's phone; nothing reaches Twilio."""
    async with calling(sqlite_url) as env:
        status, body = await _call(env, "resident")
        assert status == 400 and "最初に鳴らす電話がありません" in body, body
        async with env.console.services.sessions() as session:
            with pytest.raises(InvalidInput, match="110/118/119"):
                await accounts.set_phone(session, operator_id=await _operator_id(env, OPERATOR),
                                         phone="119")
        await env.set_phone(OPERATOR, OPERATOR_PHONE)
        status, body = await _call(env, "contact:999")
        assert status == 400 and "この通報にその番号はありません" in body, body
        async with env.console.services.sessions() as session:
            resident = await session.get(Resident, "r-001")
            assert resident is not None
            resident.gp_phone = "119"  # cannot pass the card's validation; written directly
            await session.commit()
        page = await env.timeline()
        assert 'data-callee="gp"' not in page and "ご自身の電話からおかけください" in page
        status, body = await _call(env, "gp")
        assert status == 400 and "119・110 はシステムからは発信しません" in body, body
        assert env.fake.creates("Calls") == []
        async with env.console.services.sessions() as session:
            calls = (await session.exec(select(AlertEvent).where(
                col(AlertEvent.kind) == "call"))).all()
        assert calls == []


async def test_bridge_webhooks_need_twilio_signature(sqlite_url: str) -> None:
    """An unsigned request to a bridge webhook is refused and dials nobody."""
    async with calling(sqlite_url) as env:
        for step in ("answer", "dialed", "status"):
            response = await env.console.client.post(f"/twilio/bridge/{step}?call=1",
                                                     data={"CallSid": "CA1"})
            assert response.status == 403, step


@pytest.mark.parametrize("number", ["119", "110", "+81119", "0119", "1 1 0", "118"])
def test_emergency_numbers_are_recognised(number: str) -> None:
    """However it is written, an emergency number is one."""
    assert is_emergency(number)


@pytest.mark.parametrize("number", ["+81762201111", "090-1111-2222", "+819011912345"])
def test_ordinary_numbers_are_not_emergency(number: str) -> None:
    """A number that merely contains 119 is not an emergency number."""
    assert not is_emergency(number)
