"""Builds the escalation engine, the dispatcher and the bus listeners for one gateway process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ..bus import AlertChange
from ..db.models import EventKind
from ..services import Services
from ..twilio.client import TwilioSender
from .dispatch import Dispatcher
from .engine import EscalationEngine
from .feedback import DeviceFeedback
from .policy import load_policies

TaskFactory = Callable[[asyncio.Event], Awaitable[None]]
# Notes an escalation step writes about itself: the engine already knows its next time and has
# handed its sends to the dispatcher, so these wake neither.
STEP_NOTES = frozenset({EventKind.ESCALATION_STEP.value, EventKind.REMINDER.value,
                        EventKind.EXHAUSTED.value})


def escalation_tasks(services: Services) -> list[tuple[str, TaskFactory]]:
    """Validate the policies (ConfigError stops start-up), subscribe listeners, return the tasks."""
    policies = load_policies(services.settings.policies_file)
    dispatcher = Dispatcher(services, TwilioSender(services.settings, services.metrics))
    engine = EscalationEngine(services, policies, on_queued=dispatcher.poke)
    feedback = DeviceFeedback(services)

    async def wake(change: AlertChange) -> None:
        if change.kind in STEP_NOTES:
            return
        engine.poke()
        dispatcher.poke()  # acknowledgements and cancels queue notices

    services.bus.subscribe(wake)
    services.bus.subscribe(feedback.on_change)
    return [("escalation", engine.run), ("dispatch", dispatcher.run)]
