"""In-process notice that an alert changed, published after commit (the database stays the truth).

Listeners: the escalation engine (wake up now), device feedback, the console's live board.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AlertChange:
    """Alert `alert_id` changed; `kind` is an EventKind value or "opened"."""

    alert_id: int
    kind: str


Listener = Callable[[AlertChange], Awaitable[None]]


class AlertBus:
    """Fan-out of committed alert changes to in-process listeners; a failing listener is logged."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add a listener; returns a function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def publish(self, change: AlertChange) -> None:
        """Tell every listener; never raises (the change is already committed)."""
        for listener in list(self._listeners):
            try:
                await listener(change)
            except Exception:
                log.exception("alert listener failed", extra={"alert_id": change.alert_id})
