"""The pure escalation planner: from the loaded rows and `now`, decide what happens next.

Here: a closed, acknowledged (reminders) or fall-guarded escalation, and when the running step is
over. How that step stands is in running_step.py; entering the next one is in step_entry.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from ..db.alerts import EventKind
from ..db.escalation import EscalationState
from ..i18n.said import say
from .planner_types import AttemptView, EscalationView, Note, Person, Plan, PlanEnv
from .policy import Policy
from .running_step import cannot_take, redials
from .stages import stages
from .step_entry import enter_step, next_step

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
        return enter_step(plan, policy, flat, now, env, contacts)
    current = flat[plan.step_index] if plan.step_index < len(flat) else None
    mine = [a for a in attempts if a.step_index == plan.step_index and a.round == plan.round]
    again = redials(policy, current, mine, now) if current else []
    plan.sends.extend(again)
    in_flight = bool(again) or any(a.dial_no > 1 and not a.status.is_final for a in mine)
    everyone_done = current is not None and all(
        cannot_take(p, mine, env, bool(again)) for p in current.people
    )
    if everyone_done and not in_flight:
        plan.notes.append(
            Note(
                EventKind.ESCALATION_STEP,
                say("timeline.escalation.nobody_left", step=plan.step_index + 1),
            )
        )
        return next_step(plan, policy, flat, now, env, contacts)
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
        return next_step(plan, policy, flat, now, env, contacts)
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
