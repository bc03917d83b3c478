"""The pure escalation planner: from the loaded rows and `now`, decide what happens next."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from ..db.alerts import EventKind
from ..db.escalation import (
    AttemptStatus,
    EscalationState,
    NotifyChannel,
    Purpose,
    ResponderState,
    Target,
)
from ..i18n.said import say, term
from .planner_types import (
    CHANNEL_ORDER,
    AttemptView,
    EscalationView,
    Note,
    Person,
    Plan,
    PlanEnv,
    Send,
)
from .policy import OnExhausted, Outside, Policy, When
from .stages import Stage, stages

RECHECK_SECONDS = 30  # a step waiting only on an in-flight re-dial looks again after this


def plan_next(
    state: EscalationView,
    policy: Policy,
    contacts: Sequence[Person],
    attempts: Sequence[AttemptView],
    now: datetime,
    *,
    env: PlanEnv,
) -> Plan:
    """Decide the next move of one escalation; `contacts` also holds the resident and the centre."""
    plan = Plan(
        state.state,
        state.step_index,
        state.round,
        state.step_due_at,
        state.next_due_at,
        state.reminders,
    )
    if env.resolved or state.state in (EscalationState.STOPPED, EscalationState.EXHAUSTED):
        plan.state, plan.next_due_at = (
            (EscalationState.STOPPED if env.resolved else state.state),
            None,
        )
        return plan
    if state.state is EscalationState.WATCHING:
        return _watch(plan, now, env)
    if state.state is EscalationState.GUARD:
        guard_until = state.started_at + timedelta(seconds=env.fall_guard_seconds)
        if now < guard_until:
            if state.next_due_at != guard_until:
                plan.notes.append(
                    Note(
                        EventKind.ESCALATION_STEP,
                        say("timeline.escalation.guard_waiting", seconds=env.fall_guard_seconds),
                        {"guard_until": guard_until.isoformat()},
                    )
                )
            plan.next_due_at = guard_until
            return plan
        plan.state = EscalationState.RUNNING
        plan.notes.append(Note(EventKind.ESCALATION_STEP, say("timeline.escalation.guard_over")))
    flat = stages(policy, contacts)
    if plan.step_due_at is None:
        return _enter(plan, policy, flat, now, env, contacts)
    current = flat[plan.step_index] if plan.step_index < len(flat) else None
    mine = [a for a in attempts if a.step_index == plan.step_index and a.round == plan.round]
    redials = _redials(policy, current, mine, now) if current else []
    plan.sends.extend(redials)
    in_flight = bool(redials) or any(a.dial_no > 1 and not a.status.is_final for a in mine)
    everyone_done = current is not None and all(
        _done(p, mine, env, bool(redials)) for p in current.people
    )
    if everyone_done and not in_flight:
        plan.notes.append(
            Note(
                EventKind.ESCALATION_STEP,
                say("timeline.escalation.nobody_left", step=plan.step_index + 1),
            )
        )
        return _advance(plan, policy, flat, now, env, contacts)
    if now >= plan.step_due_at:
        if in_flight:  # the re-dial gets its chance before the step is spent
            plan.next_due_at = now + timedelta(seconds=RECHECK_SECONDS)
            return plan
        plan.notes.append(
            Note(
                EventKind.ESCALATION_STEP,
                say("timeline.escalation.timed_out", step=plan.step_index + 1),
            )
        )
        return _advance(plan, policy, flat, now, env, contacts)
    plan.next_due_at = plan.step_due_at
    return plan


def _watch(plan: Plan, now: datetime, env: PlanEnv) -> Plan:
    """Acknowledged but not resolved: remind the console every `reminder_seconds`."""
    if env.acknowledged_at is None:
        plan.state, plan.next_due_at = EscalationState.STOPPED, None
        return plan
    interval = timedelta(seconds=env.reminder_seconds)
    due = env.acknowledged_at + interval * (plan.reminders + 1)
    if now >= due:
        plan.reminders += 1
        plan.remind = True
        minutes = int((now - env.acknowledged_at).total_seconds() // 60)
        plan.notes.append(
            Note(
                EventKind.REMINDER,
                say("timeline.escalation.reminder", minutes=minutes),
                {"reminder": plan.reminders},
            )
        )
        due = env.acknowledged_at + interval * (plan.reminders + 1)
    plan.next_due_at = due
    return plan


def _done(person: Person, mine: Sequence[AttemptView], env: PlanEnv, redialling: bool) -> bool:
    """This person cannot take the alert in this step: declined, or every attempt failed."""
    if (
        person.contact_id is not None
        and env.responders.get(person.contact_id) is ResponderState.DECLINED
    ):
        return True
    theirs = [a for a in mine if a.to_number == person.phone]
    if redialling and any(
        a.to_number == person.phone for a in theirs if a.channel is NotifyChannel.VOICE
    ):
        return False
    return all(
        a.status.is_failure
        or a.status in (AttemptStatus.SKIPPED, AttemptStatus.CANCELED, AttemptStatus.DECLINED)
        for a in theirs
    )


def _redials(
    policy: Policy, stage: Stage, mine: Sequence[AttemptView], now: datetime
) -> list[Send]:
    """Re-dial each not-reached voice contact once (within 3 minutes) before the step ends."""
    if not policy.redial:
        return []
    out = []
    for person in stage.people:
        calls = [
            a for a in mine if a.to_number == person.phone and a.channel is NotifyChannel.VOICE
        ]
        first = [a for a in calls if a.dial_no == 1]
        if not first or any(a.dial_no > 1 for a in calls):
            continue
        call = first[0]
        if call.status is AttemptStatus.NOT_REACHED or (
            call.status is AttemptStatus.FAILED and call.has_sid
        ):
            out.append(
                Send(
                    person,
                    NotifyChannel.VOICE,
                    call.step_index,
                    call.round,
                    now + timedelta(seconds=policy.redial_delay_seconds),
                    dial_no=2,
                )
            )
    return out


def _advance(
    plan: Plan,
    policy: Policy,
    flat: list[Stage],
    now: datetime,
    env: PlanEnv,
    people: Sequence[Person],
) -> Plan:
    plan.step_index += 1
    plan.step_due_at = None
    return _enter(plan, policy, flat, now, env, people)


def _enter(
    plan: Plan,
    policy: Policy,
    flat: list[Stage],
    now: datetime,
    env: PlanEnv,
    people: Sequence[Person],
) -> Plan:
    """Start the step at `plan.step_index`, passing over empty or out-of-hours steps."""
    for _ in range(len(flat) * (policy.repeat_times + 1) + 1):
        if plan.step_index >= len(flat):
            if plan.round < policy.repeat_times and policy.repeat_last:
                plan.round += 1
                first_repeated = len(policy.steps) - policy.repeat_last
                plan.step_index = next(
                    i for i, s in enumerate(flat) if s.policy_step >= first_repeated
                )
                plan.notes.append(
                    Note(
                        EventKind.ESCALATION_STEP,
                        say("timeline.escalation.repeating", steps=policy.repeat_last,
                             round=plan.round + 1),
                    )
                )
                continue
            return _exhausted(plan, policy, flat, now, people)
        stage = flat[plan.step_index]
        number = plan.step_index + 1
        hours_ok = _in_hours(stage.step.when, env.is_night(now))
        if not hours_ok and stage.step.outside is Outside.DEFER:
            plan.step_due_at, plan.next_due_at = None, env.next_change(now)
            plan.notes.append(
                Note(
                    EventKind.ESCALATION_STEP,
                    say("timeline.escalation.deferred", step=number, stage=stage.shown,
                         when=term(f"hours.{stage.step.when}")),
                    {"until": plan.next_due_at.isoformat()},
                )
            )
            return plan
        sends = [
            Send(p, c, plan.step_index, plan.round, now)
            for p in stage.people
            for c in p.usable(stage.step.channels)
        ]
        skip = _skip_reason(stage, hours_ok, bool(sends), policy, env)
        if skip is not None:
            key, params = skip
            plan.notes.append(Note(EventKind.ESCALATION_STEP, say(
                f"timeline.escalation.skipped_{key}", step=number, stage=stage.shown, **params)))
            plan.step_index += 1
            continue
        plan.sends.extend(sends)
        plan.step_due_at = now + timedelta(seconds=stage.step.wait_seconds)
        plan.next_due_at = plan.step_due_at
        channels = sorted({s.channel for s in sends}, key=CHANNEL_ORDER.index)
        plan.notes.append(
            Note(
                EventKind.ESCALATION_STEP,
                say("timeline.escalation.notifying", step=number,
                     who=[p.with_role() for p in stage.people],
                     how=[term(f"channel.{c.value}") for c in channels],
                     seconds=stage.step.wait_seconds),
                {
                    "step": number,
                    "round": plan.round + 1,
                    "policy": policy.name,
                    "contact_ids": [p.contact_id for p in stage.people if p.contact_id],
                },
            )
        )
        unlinked = [p for p in stage.people if NotifyChannel.LINE in stage.step.channels
                    and not p.line_user_id]
        if unlinked:
            plan.notes.append(Note(EventKind.ESCALATION_STEP, say(
                "timeline.escalation.line_unlinked", step=number,
                who=[p.mention() for p in unlinked]),
                {"line_unlinked": [p.name for p in unlinked]}))
        return plan
    return _exhausted(plan, policy, flat, now, people)


def _exhausted(
    plan: Plan, policy: Policy, flat: list[Stage], now: datetime, people: Sequence[Person]
) -> Plan:
    """Every step spent: tell the dispatch centre (and the timeline) that nobody answered."""
    plan.state, plan.step_due_at, plan.next_due_at = EscalationState.EXHAUSTED, None, None
    plan.step_index = len(flat)
    dispatch = {p.key: p for p in people if p.target is Target.DISPATCH}
    told = "exhausted"
    if policy.on_exhausted is OnExhausted.DISPATCH:
        for person in dispatch.values():
            for channel in person.usable(frozenset({NotifyChannel.SMS, NotifyChannel.VOICE})):
                plan.sends.append(
                    Send(
                        person, channel, plan.step_index, plan.round, now, purpose=Purpose.EXHAUSTED
                    )
                )
        told = "exhausted_dispatch" if dispatch else "exhausted_no_dispatch"
    plan.notes.append(Note(EventKind.EXHAUSTED, say(f"timeline.escalation.{told}")))
    return plan


def _skip_reason(stage: Stage, hours_ok: bool, any_sends: bool, policy: Policy, env: PlanEnv,
                 ) -> tuple[str, dict[str, Any]] | None:
    """Why a step is passed over (its catalogue key's end and parameters), or None to run it."""
    if not hours_ok:  # the step's hours are not now: a night-only step in the day, or the reverse
        return ("night_only" if stage.step.when is When.NIGHT else "day_only"), {}
    if not stage.people:
        return "nobody", {}
    if not any_sends:
        return "no_channel", {}
    if policy.resident_cap is not None and env.resident_recent_steps >= policy.resident_cap:
        return "rate_limit", {"count": env.resident_recent_steps}
    return None


def _in_hours(when: When, night: bool) -> bool:
    return when is When.ALWAYS or (when is When.NIGHT) == night
