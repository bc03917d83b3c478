"""Builds the escalation engine, the dispatcher, the wellbeing scheduler, the sweep runner and
the bus listeners for one gateway process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .bus import CLOSING_KINDS, AlertChange, ChangeKind
from .db.engine import is_sqlite
from .escalation.engine import EscalationEngine
from .escalation.intake import Intake
from .escalation.policy_file import load_policies
from .ingest.feedback import DeviceFeedback
from .line.client import LineSender
from .outbox.dispatch import Dispatcher
from .services import Services
from .sweep.runner import SweepRunner
from .twilio.client import TwilioSender
from .wellbeing.scheduler import WellbeingScheduler

TaskFactory = Callable[[asyncio.Event], Awaitable[None]]


@dataclass(frozen=True)
class Workers:
    """The background workers of one process, built once."""

    engine: EscalationEngine
    dispatcher: Dispatcher
    wellbeing: WellbeingScheduler
    sweep: SweepRunner

    def tasks(self) -> list[tuple[str, TaskFactory]]:
        """What the gateway runs and restarts when one crashes."""
        return [("escalation", self.engine.run), ("dispatch", self.dispatcher.run),
                ("wellbeing", self.wellbeing.run), ("sweep", self.sweep.run)]


def build_workers(services: Services) -> Workers:
    """Validate the policies (ConfigError stops start-up), subscribe listeners, build the
    workers and give the HTTP faces their wake-ups."""
    policies = load_policies(services.settings.policies_file)
    dispatcher = Dispatcher(services.settings, services.clock, services.sessions, services.bus,
                            services.metrics, TwilioSender(services.settings, services.metrics),
                            LineSender(services.settings, services.metrics))
    engine = EscalationEngine(services.settings, services.clock, services.writer_sessions(),
                              services.bus,
                              services.metrics, policies, on_queued=dispatcher.note_due,
                              first_sends_waiting=lambda: dispatcher.first_sends_waiting)
    dispatcher.first_sends_out = engine.first_sends_out
    feedback = DeviceFeedback(services.sessions, services.ingest.feedback, services.metrics)
    services.ingest.committer.intake = Intake(services.settings, engine.stepper, dispatcher,
                                              engine, lock_rows=not is_sqlite(services.settings.database_url))

    async def wake(change: AlertChange) -> None:
        if change.kind is ChangeKind.STORED and not change.remote:
            engine.board_changed()  # intake planned it and handed its sends over itself
            return
        if change.by_step and change.kind not in CLOSING_KINDS:
            return  # the engine's own step: it looks again itself and told the dispatcher
        # another replica's stored alarm: its next step's due time is ours to know (takeover)
        engine.poke()
        if change.kind is ChangeKind.NOTIFICATION and not change.remote:
            return  # an attempt failed here: its escalation is due now, nothing was queued
        # acknowledgements and cancels queue notices, and calls about a closed alert end at once;
        # only a closing kind costs the look for calls to hang up (a storm's step notes do not)
        dispatcher.poke(closed=change.kind in CLOSING_KINDS)

    services.bus.subscribe(wake)  # also other replicas' changes: their due times are ours too
    # The replica that made the change holds the device's MQTT session and tells it (once).
    services.bus.subscribe(feedback.on_change, remote=False)
    wellbeing = WellbeingScheduler(services.settings, services.clock, services.sessions,
                                   services.bus, services.metrics, on_queued=dispatcher.queued_now)
    sweep = SweepRunner(services.settings, services.clock, services.sessions, services.bus,
                        services.metrics, services.ingest.progress, on_queued=dispatcher.queued_now)
    services.wakers.schedules, services.wakers.sweeps = wellbeing.poke, sweep.poke
    dispatcher.delivery.sweep_call_ended = sweep.poke
    return Workers(engine, dispatcher, wellbeing, sweep)
