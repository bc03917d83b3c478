"""Entering a step (pure): its sends and notes, or why it is passed over or deferred to the
day/night change; repeating the last steps, and telling the centre when every step is spent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from ..db.alerts import EventKind
from ..db.escalation import EscalationState, NotifyChannel, Purpose, Target
from ..i18n.said import say, term
from .planner_types import CHANNEL_ORDER, Note, Person, Plan, PlanEnv, Send
from .policy import OnExhausted, Outside, Policy, When
from .stages import Stage


def next_step(
    plan: Plan,
    policy: Policy,
    flat: list[Stage],
    now: datetime,
    env: PlanEnv,
    people: Sequence[Person],
) -> Plan:
    """The running step is over: enter the one after it."""
    plan.step_index += 1
    plan.step_due_at = None
    return enter_step(plan, policy, flat, now, env, people)


def enter_step(
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
        plan.notes.extend(_notifying(plan, policy, stage, sends))
        return plan
    return _exhausted(plan, policy, flat, now, people)


def _notifying(plan: Plan, policy: Policy, stage: Stage, sends: list[Send]) -> list[Note]:
    """The timeline's word on a step entered: who, how and for how long; who lacks LINE."""
    number = plan.step_index + 1
    channels = sorted({s.channel for s in sends}, key=CHANNEL_ORDER.index)
    notes = [
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
    ]
    unlinked = [p for p in stage.people if NotifyChannel.LINE in stage.step.channels
                and not p.line_user_id]
    if unlinked:
        notes.append(Note(EventKind.ESCALATION_STEP, say(
            "timeline.escalation.line_unlinked", step=number,
            who=[p.mention() for p in unlinked]),
            {"line_unlinked": [p.name for p in unlinked]}))
    return notes


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
