"""Plain unit tests: policies naming LINE, the planner's LINE sends and notes, postback data."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from alert_gateway.db.answer_links import Answer
from alert_gateway.db.escalation import EscalationState, NotifyChannel, Target
from alert_gateway.db.residents import PhoneType
from alert_gateway.errors import ConfigError
from alert_gateway.escalation.daynight import NightHours
from alert_gateway.escalation.planner import plan_next
from alert_gateway.escalation.planner_types import EscalationView, Person, PlanEnv
from alert_gateway.escalation.policy_file import parse_policies
from alert_gateway.line.messages import Postback, parse_postback, postback_data
from alert_gateway.settings import Settings

NOW = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
HOURS = NightHours.of("Asia/Tokyo", 22, 7)
DAUGHTER = Person(Target.CONTACT, 1, "山田 京子", "+819011110001", PhoneType.MOBILE,
                  relation="family", line_user_id="U" + "d" * 32)
SON = Person(Target.CONTACT, 2, "山田 一郎", "+819011110002", PhoneType.MOBILE, relation="family",
             priority=2)


def _policy(channels: object) -> dict[str, object]:
    return {"policy": [{"name": "default", "step": [
        {"targets": ["family:all"], "channels": channels, "wait_seconds": 60}]}]}


def test_a_step_names_line_as_a_plus_list_or_a_list() -> None:
    """"sms+line+voice" and ["line"] are read; an unknown channel is refused, saying which."""
    for channels, expected in (("sms+line+voice", {"sms", "line", "voice"}), (["line"], {"line"})):
        [step] = parse_policies(_policy(channels)).policies["default"].steps
        assert {c.value for c in step.channels} == expected
    with pytest.raises(ConfigError, match="'fax'"):
        parse_policies(_policy("sms+fax"))


def test_line_goes_last_to_linked_contacts_and_the_unlinked_are_noted() -> None:
    """The daughter gets voice, SMS, then LINE; the son (not linked) gets voice and SMS, and the
    timeline says LINE was skipped for him."""
    policy = parse_policies(_policy("sms+line+voice")).policies["default"]
    env = PlanEnv(is_night=HOURS.is_night, next_change=HOURS.next_change)
    view = EscalationView(EscalationState.RUNNING, 0, 0, NOW, NOW, None)
    plan = plan_next(view, policy, [DAUGHTER, SON], [], NOW, env=env)
    assert [(s.person.contact_id, s.channel) for s in plan.sends] == [
        (1, NotifyChannel.VOICE), (1, NotifyChannel.SMS), (1, NotifyChannel.LINE),
        (2, NotifyChannel.VOICE), (2, NotifyChannel.SMS)]
    assert plan.notes[-1].said.english == "step 1: LINE skipped for 山田 一郎 (no linked LINE account)"
    only_line = parse_policies(_policy(["line"])).policies["default"]
    unlinked = plan_next(view, only_line, [replace(DAUGHTER, line_user_id=None)], [], NOW, env=env)
    assert unlinked.sends == [] and "no usable channel" in unlinked.notes[0].said.english


def test_postback_data_names_an_answer_and_an_attempt_and_nothing_else() -> None:
    """Our data round-trips; anything else (forged answers, huge ids, junk) is not ours."""
    assert parse_postback(postback_data(Answer.ARRIVE, 42)) == Postback(Answer.ARRIVE, 42)
    for junk in ("", "a=accept", "a=resolve&attempt=1", "a=accept&attempt=-1",
                 "a=accept&attempt=9999999999", "attempt=1&a=accept&a=x&x=1&y=2"):
        assert parse_postback(junk) is None, junk


def test_line_needs_both_its_secret_and_its_token() -> None:
    """One LINE credential without the other is a configuration mistake, not LINE quietly off."""
    assert not Settings().line_enabled
    assert Settings(line_channel_secret="s", line_channel_access_token="t").line_enabled
    with pytest.raises(ValueError, match="go together"):
        Settings(line_channel_secret="s")
