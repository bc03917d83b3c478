"""How the running step stands (pure): who can no longer take the alert, and who is re-dialled."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from ..db.escalation import AttemptStatus, NotifyChannel, ResponderState
from .planner_types import AttemptView, Person, PlanEnv, Send
from .policy import Policy
from .stages import Stage


def cannot_take(person: Person, mine: Sequence[AttemptView], env: PlanEnv, redialling: bool
                ) -> bool:
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


def redials(
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
