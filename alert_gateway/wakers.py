"""Wake-ups the HTTP faces give this process's background workers after they commit a change
(the composition root sets them; a process without the workers keeps the no-ops)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


def _nobody() -> None:
    """No worker runs here: the change waits for the worker's own next look."""


@dataclass
class Wakers:
    """Each wakes one worker now instead of at its next due time."""

    sweeps: Callable[[], None] = _nobody  # a sweep started or resumed, a key pressed, a call ended
    schedules: Callable[[], None] = _nobody  # a wellbeing schedule was set: plan it now
