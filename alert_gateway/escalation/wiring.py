"""Builds the escalation engine, the dispatcher and the bus listeners for one gateway process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ..bus import AlertChange
from ..db.engine import is_sqlite
from ..services import STORED, Services
from ..twilio.client import TwilioSender
from .dispatch import Dispatcher
from .engine import EscalationEngine
from .feedback import DeviceFeedback
from .intake import Intake
from .policy import load_policies

TaskFactory = Callable[[asyncio.Event], Awaitable[None]]


def escalation_tasks(services: Services) -> list[tuple[str, TaskFactory]]:
    """Validate the policies (ConfigError stops start-up), subscribe listeners, return the tasks."""
    policies = load_policies(services.settings.policies_file)
    dispatcher = Dispatcher(services, TwilioSender(services.settings, services.metrics))
    engine = EscalationEngine(services, policies, on_queued=dispatcher.poke)
    feedback = DeviceFeedback(services)
    services.ingest.intake = Intake(services.settings, engine.stepper, dispatcher, engine,
                                    lock_rows=not is_sqlite(services.settings.database_url))

    async def wake(change: AlertChange) -> None:
        if change.kind == STORED:  # intake planned it and handed its sends over itself
            engine.board_changed()
            return
        engine.poke()
        dispatcher.poke()  # acknowledgements and cancels queue notices

    services.bus.subscribe(wake)
    services.bus.subscribe(feedback.on_change)
    return [("escalation", engine.run), ("dispatch", dispatcher.run)]
