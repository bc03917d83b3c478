"""Builds the escalation engine, the dispatcher and the bus listeners for one gateway process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ..bus import AlertChange
from ..services import Services
from ..twilio.client import TwilioSender
from .dispatch import Dispatcher
from .engine import EscalationEngine
from .feedback import DeviceFeedback
from .policy import load_policies

ENGINE_KEY = "escalation_engine"
DISPATCHER_KEY = "escalation_dispatcher"
TaskFactory = Callable[[asyncio.Event], Awaitable[None]]


def escalation_tasks(services: Services) -> list[tuple[str, TaskFactory]]:
    """Validate the policies (ConfigError stops start-up), subscribe listeners, return the tasks."""
    policies = load_policies(services.settings.policies_file)
    dispatcher = Dispatcher(services, TwilioSender(services.settings, services.metrics))
    engine = EscalationEngine(services, policies, on_queued=dispatcher.poke)
    feedback = DeviceFeedback(services)

    async def wake(change: AlertChange) -> None:
        if change.by_engine:  # the engine queued its sends itself (on_queued) and knows its next time
            return
        if change.kind == "alarm":
            # A stored alarm: its escalation step runs first; the dispatcher then looks once
            # (a device cancel may have queued notices) instead of racing the step for the database.
            engine.poke(then_dispatch=True)
            return
        engine.poke()
        # acknowledgements and cancels queue notices, and calls about a closed alert end at once
        dispatcher.poke(closed=True)

    services.bus.subscribe(wake)  # also other replicas' changes: their due times are ours too
    # The replica that made the change holds the device's MQTT session and tells it (once).
    services.bus.subscribe(feedback.on_change, remote=False)
    services.extras[ENGINE_KEY] = engine
    services.extras[DISPATCHER_KEY] = dispatcher
    return [("escalation", engine.run), ("dispatch", dispatcher.run)]
