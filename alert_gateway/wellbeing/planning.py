"""What happens next to a wellbeing window after its call: the pure rules (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ..escalation.daynight import NightHours
from .check_call import CheckAnswer
from .schedule import Window, spread

CHECK_AGAIN = timedelta(minutes=1)  # the call is still on the line: look again this much later


class Step(StrEnum):
    """The decision after looking at a placed call."""

    WAIT = "wait"  # not over yet
    FINE = "fine"
    HELP = "help"
    RETRY = "retry"
    NOT_REACHED = "not_reached"


@dataclass(frozen=True, slots=True)
class Next:
    """The step, and for WAIT and RETRY when to look again."""

    step: Step
    due_at: datetime | None = None


def out_of_night(at: datetime, hours: NightHours) -> datetime:
    """`at`, or the end of the night it falls in (nobody is phoned for a check at night)."""
    return hours.next_change(at) if hours.is_night(at) else at


def first_due(window: Window, resident_id: str, hours: NightHours) -> datetime:
    """When the first call of a window is due: spread inside it, never at night."""
    return out_of_night(spread(window, resident_id), hours)


def after_call(answer: CheckAnswer | None, *, tries: int, max_tries: int, finished_at: datetime | None,
               now: datetime, retry_after: timedelta, hours: NightHours) -> Next:
    """A key settles the window; no answer retries after `retry_after` until `max_tries` calls."""
    if answer is None:
        return Next(Step.WAIT, now + CHECK_AGAIN)
    if answer is CheckAnswer.FINE:
        return Next(Step.FINE)
    if answer is CheckAnswer.HELP:
        return Next(Step.HELP)
    if tries >= max_tries:
        return Next(Step.NOT_REACHED)
    return Next(Step.RETRY, out_of_night((finished_at or now) + retry_after, hours))
