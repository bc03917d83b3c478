"""Plain unit tests of the pure planner and the policy loader: no I/O, time as a parameter."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alert_gateway.db.alerts import EventKind
from alert_gateway.db.escalation import (
    AttemptStatus,
    EscalationState,
    NotifyChannel,
    Purpose,
    ResponderState,
    Target,
)
from alert_gateway.db.residents import PhoneType
from alert_gateway.errors import ConfigError
from alert_gateway.escalation.daynight import NightHours
from alert_gateway.escalation.planner import plan_next
from alert_gateway.escalation.planner_types import (
    AttemptView,
    EscalationView,
    Person,
    Plan,
    PlanEnv,
)
from alert_gateway.escalation.policy_file import load_policies, parse_policies

NIGHT = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)  # 03:00 in Kanazawa
DAY = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # 10:00 in Kanazawa
HOURS = NightHours.of("Asia/Tokyo", 22, 7)
POLICIES = load_policies()

RESIDENT = Person(Target.RESIDENT, None, "山田 花子", "+81762000001", PhoneType.LANDLINE)
DAUGHTER = Person(
    Target.CONTACT, 1, "山田 京子", "+819011110001", PhoneType.MOBILE, relation="family", priority=1
)
SON = Person(
    Target.CONTACT, 2, "山田 一郎", "+819011110002", PhoneType.MOBILE, relation="family", priority=2
)
NEIGHBOUR = Person(
    Target.CONTACT, 3, "佐藤", "+81762000003", PhoneType.LANDLINE, relation="neighbour", priority=3
)
CENTRE = Person(Target.DISPATCH, None, "受信センター", "+81762999999", PhoneType.LANDLINE)
PEOPLE = [RESIDENT, DAUGHTER, SON, NEIGHBOUR, CENTRE]


def env(**kw: object) -> PlanEnv:
    base = PlanEnv(is_night=HOURS.is_night, next_change=HOURS.next_change, fall_guard_seconds=30)
    return replace(base, **kw)  # type: ignore[arg-type]


def fresh(now: datetime, state: EscalationState = EscalationState.RUNNING) -> EscalationView:
    return EscalationView(state, 0, 0, now, now, None)


def after(plan: Plan, started: datetime) -> EscalationView:
    return EscalationView(
        plan.state,
        plan.step_index,
        plan.round,
        started,
        plan.next_due_at,
        plan.step_due_at,
        plan.reminders,
    )


def attempts_of(plan: Plan, status: AttemptStatus, start_id: int = 1) -> list[AttemptView]:
    return [
        AttemptView(
            start_id + i,
            s.step_index,
            s.round,
            s.person.target,
            s.person.contact_id,
            s.person.phone,
            s.channel,
            status,
            s.dial_no,
        )
        for i, s in enumerate(plan.sends)
    ]


def test_p1_calls_the_resident_first_by_voice() -> None:
    """A pendant alarm starts by calling the resident; the step waits 45 s."""
    plan = plan_next(fresh(NIGHT), POLICIES.select("sos", "P1"), PEOPLE, [], NIGHT, env=env())
    assert [(s.person.name, s.channel) for s in plan.sends] == [("山田 花子", NotifyChannel.VOICE)]
    assert plan.step_due_at == NIGHT + timedelta(seconds=45)
    assert plan.next_due_at == plan.step_due_at
    assert plan.notes[0].kind is EventKind.ESCALATION_STEP


def test_no_answer_moves_to_first_family_contact_at_night_with_voice_and_sms() -> None:
    """When the resident's step times out at night, family (not neighbours) are next, in order."""
    policy = POLICIES.select("sos", "P1")
    first = plan_next(fresh(NIGHT), policy, PEOPLE, [], NIGHT, env=env())
    later = NIGHT + timedelta(seconds=46)
    plan = plan_next(
        after(first, NIGHT),
        policy,
        PEOPLE,
        attempts_of(first, AttemptStatus.RINGING),
        later,
        env=env(),
    )
    assert {(s.person.name, s.channel) for s in plan.sends} == {
        ("山田 京子", NotifyChannel.VOICE),
        ("山田 京子", NotifyChannel.SMS),
    }
    # the daytime "contact:each" step is passed over, and the note says why the right way round
    skipped = [n.said for n in plan.notes if "skipped" in n.said.key]
    assert skipped and all(s.english.endswith("skipped: it runs only in the daytime, and it is night")
                           for s in skipped), [s.english for s in skipped]
    assert skipped[0].render("ja").endswith("を飛ばしました: 日中だけのステップで、今は夜間です")


def test_daytime_order_includes_neighbours_but_never_sms_to_landline() -> None:
    """In daytime neighbours are in the resident's order; a landline neighbour gets voice only."""
    policy = POLICIES.select("sos", "P1")
    plan = plan_next(
        EscalationView(EscalationState.RUNNING, 3, 0, DAY, DAY, None),
        policy,
        PEOPLE,
        [],
        DAY,
        env=env(),
    )
    assert [(s.person.name, s.channel) for s in plan.sends] == [("佐藤", NotifyChannel.VOICE)]


def test_failed_sms_and_busy_call_redial_once_then_move_on_without_waiting() -> None:
    """A busy call is re-dialled once after the delay; when that fails too the step ends."""
    policy = POLICIES.select("sos", "P1")
    state = EscalationView(EscalationState.RUNNING, 1, 0, NIGHT, NIGHT, None)
    entered = plan_next(state, policy, PEOPLE, [], NIGHT, env=env())
    failed = attempts_of(entered, AttemptStatus.UNDELIVERED)
    failed = [
        replace(a, status=AttemptStatus.NOT_REACHED) if a.channel is NotifyChannel.VOICE else a
        for a in failed
    ]
    t1 = NIGHT + timedelta(seconds=20)
    redial = plan_next(after(entered, NIGHT), policy, PEOPLE, failed, t1, env=env())
    assert [(s.channel, s.dial_no, s.not_before) for s in redial.sends] == [
        (NotifyChannel.VOICE, 2, t1 + timedelta(seconds=60))
    ]
    assert redial.step_index == entered.step_index
    second = [*failed, replace(attempts_of(redial, AttemptStatus.NOT_REACHED, 10)[0])]
    t2 = t1 + timedelta(seconds=70)
    moved = plan_next(after(redial, NIGHT), policy, PEOPLE, second, t2, env=env())
    assert moved.step_index > entered.step_index
    assert [s.person.name for s in moved.sends] == ["山田 一郎", "山田 一郎"]
    assert moved.step_due_at == t2 + timedelta(seconds=90)


def test_decline_moves_on_at_once() -> None:
    """A contact who declines ("2") ends their step before its wait is over."""
    policy = POLICIES.select("sos", "P1")
    state = EscalationView(EscalationState.RUNNING, 1, 0, NIGHT, NIGHT, None)
    entered = plan_next(state, policy, PEOPLE, [], NIGHT, env=env())
    sent = attempts_of(entered, AttemptStatus.DELIVERED)
    plan = plan_next(
        after(entered, NIGHT),
        policy,
        PEOPLE,
        sent,
        NIGHT + timedelta(seconds=5),
        env=env(responders={1: ResponderState.DECLINED}),
    )
    assert plan.sends and plan.sends[0].person.name == "山田 一郎"


def test_delivered_sms_waits_out_the_timer() -> None:
    """A delivered SMS is not an acknowledgement, but the contact may still reply: wait."""
    policy = POLICIES.select("sos", "P1")
    state = EscalationView(EscalationState.RUNNING, 1, 0, NIGHT, NIGHT, None)
    entered = plan_next(state, policy, PEOPLE, [], NIGHT, env=env())
    sent = [
        replace(
            a,
            status=AttemptStatus.DELIVERED
            if a.channel is NotifyChannel.SMS
            else AttemptStatus.RINGING,
        )
        for a in attempts_of(entered, AttemptStatus.QUEUED)
    ]
    plan = plan_next(
        after(entered, NIGHT), policy, PEOPLE, sent, NIGHT + timedelta(seconds=10), env=env()
    )
    assert not plan.sends and plan.next_due_at == entered.step_due_at


def test_fire_types_go_to_the_dispatch_centre_first() -> None:
    """Smoke, heat, CO and gas alarms start with the dispatch centre."""
    for kind in ("smoke", "heat", "co", "gas"):
        plan = plan_next(fresh(NIGHT), POLICIES.select(kind, "P1"), PEOPLE, [], NIGHT, env=env())
        assert {s.person.target for s in plan.sends} == {Target.DISPATCH}
        assert [s.channel for s in plan.sends] == [NotifyChannel.VOICE]  # centre is a landline


def test_p2_starts_with_family() -> None:
    """A P2 alarm (flood) goes to the first family contact first."""
    plan = plan_next(fresh(NIGHT), POLICIES.select("flood", "P2"), PEOPLE, [], NIGHT, env=env())
    assert {s.person.name for s in plan.sends} == {"山田 京子"}


def test_p3_is_deferred_to_daytime_and_sms_only() -> None:
    """A low battery at 03:00 waits for 07:00 and then texts the first family contact."""
    policy = POLICIES.select("low_battery", "P3")
    plan = plan_next(fresh(NIGHT), policy, PEOPLE, [], NIGHT, env=env())
    assert plan.sends == [] and plan.step_due_at is None
    assert plan.next_due_at == datetime(2026, 11, 26, 22, 0, tzinfo=UTC)  # 07:00 JST
    morning = plan.next_due_at
    day = plan_next(after(plan, NIGHT), policy, PEOPLE, [], morning, env=env())
    assert [(s.person.name, s.channel) for s in day.sends] == [("山田 京子", NotifyChannel.SMS)]


def test_p3_rate_limited_per_resident() -> None:
    """A resident whose technical alarms already notified twice today gets no third SMS."""
    policy = POLICIES.select("low_battery", "P3")
    plan = plan_next(fresh(DAY), policy, PEOPLE, [], DAY, env=env(resident_recent_steps=2))
    assert plan.sends == [] and plan.state is EscalationState.EXHAUSTED
    assert any("rate limit" in n.said.english for n in plan.notes)


def test_fall_guard_waits_then_escalates() -> None:
    """A fall alarm waits the guard time, then calls the resident."""
    policy = POLICIES.select("fall", "P1")
    plan = plan_next(fresh(NIGHT, EscalationState.GUARD), policy, PEOPLE, [], NIGHT, env=env())
    assert plan.sends == [] and plan.next_due_at == NIGHT + timedelta(seconds=30)
    later = plan_next(
        after(plan, NIGHT), policy, PEOPLE, [], NIGHT + timedelta(seconds=30), env=env()
    )
    assert (
        later.state is EscalationState.RUNNING and later.sends[0].person.target is Target.RESIDENT
    )


def test_exhausted_tells_the_dispatch_centre_after_repeats() -> None:
    """With every step timing out, the tail repeats, then the centre hears nobody answered."""
    policy = POLICIES.select("sos", "P1")
    now, state, attempts = NIGHT, fresh(NIGHT), []
    rounds = set()
    for _ in range(30):
        plan = plan_next(state, policy, PEOPLE, attempts, now, env=env())
        attempts += attempts_of(plan, AttemptStatus.DELIVERED, len(attempts) + 1)
        rounds.add(plan.round)
        if plan.state is EscalationState.EXHAUSTED:
            break
        assert plan.next_due_at is not None
        now, state = plan.next_due_at, after(plan, NIGHT)
    assert plan.state is EscalationState.EXHAUSTED and rounds == {0, 1, 2}
    assert [(s.purpose, s.person.target) for s in plan.sends] == [
        (Purpose.EXHAUSTED, Target.DISPATCH)
    ]
    assert plan.notes[-1].kind is EventKind.EXHAUSTED


def test_acknowledged_alert_reminds_the_console_when_not_resolved() -> None:
    """After the acknowledgement, a reminder comes every `reminder_seconds` until resolution."""
    watching = EscalationView(EscalationState.WATCHING, 2, 0, NIGHT, NIGHT, None)
    e = env(acknowledged_at=NIGHT, reminder_seconds=1800)
    early = plan_next(watching, POLICIES.select("sos", "P1"), PEOPLE, [], NIGHT, env=e)
    assert not early.remind and early.next_due_at == NIGHT + timedelta(minutes=30)
    due = plan_next(
        watching, POLICIES.select("sos", "P1"), PEOPLE, [], NIGHT + timedelta(minutes=30), env=e
    )
    assert due.remind and due.reminders == 1 and due.next_due_at == NIGHT + timedelta(minutes=60)
    done = plan_next(
        watching, POLICIES.select("sos", "P1"), PEOPLE, [], NIGHT, env=env(resolved=True)
    )
    assert done.state is EscalationState.STOPPED and done.next_due_at is None


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[[policy]]\nname="default"\n[[policy.step]]\ntargets=["cousin"]\nwait_seconds=5',
            "unknown relation",
        ),
        (
            '[[policy]]\nname="default"\n[[policy.step]]\ntargets=["family"]\nwait_seconds=0',
            "zero wait",
        ),
        ('[[policy]]\nname="default"\n[[policy.step]]\ntargets=[]\nwait_seconds=5', "empty step"),
        (
            '[[policy]]\nname="default"\nseverities=["P4"]\n[[policy.step]]\ntargets=["family"]\n'
            "wait_seconds=5",
            "never go to contacts",
        ),
        ('[[policy]]\nname="x"\n[[policy.step]]\ntargets=["family"]\nwait_seconds=5', "'default'"),
        (
            '[[policy]]\nname="default"\n[[policy.step]]\ntargets=["family"]\nwait_seconds=5\nchanel="sms"',
            "unknown key",
        ),
    ],
)
def test_invalid_policies_are_refused_with_a_clear_message(
    tmp_path: Path, toml: str, message: str
) -> None:
    """Start-up refuses a bad policies file and says what is wrong."""
    path = tmp_path / "policies.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=message):
        load_policies(path)


def test_example_config_matches_the_built_in_defaults() -> None:
    """config/policies.toml loads and describes the same policies as the built-in defaults."""
    example = load_policies(Path(__file__).parents[2] / "config" / "policies.toml")
    assert example == POLICIES
    assert (
        parse_policies(
            {
                "policy": [
                    {"name": "default", "step": [{"targets": ["dispatch"], "wait_seconds": 1}]}
                ]
            }
        )
        .select("sos", "P1")
        .name
        == "default"
    )
