"""The SIA receiver and its MQTT forwarder, run together (inside `serve`, or `receive sia`)."""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import CollectorRegistry

from ..clock import Clock
from ..db.engine import SessionFactory
from ..settings import Settings
from .sia_accounts import Accounts, load_accounts
from .sia_forward import ContractForwarder
from .sia_receiver import SiaReceiver
from .sia_rejects import SiaMetrics


class SiaBridge:
    """Panels in over TCP, contract messages out over MQTT."""

    def __init__(self, settings: Settings, *, sessions: SessionFactory, clock: Clock,
                 registry: CollectorRegistry, port: int | None = None, host: str | None = None,
                 accounts: Accounts | None = None) -> None:
        """Without `accounts`, read the settings' file now: a mistake in it stops the start."""
        if accounts is None:
            accounts = load_accounts(settings.sia_accounts_file)
        self.forwarder = ContractForwarder(settings, identifier=f"{settings.mqtt_client_id}-sia")
        chosen = port if port is not None else settings.sia_port
        self.receiver = SiaReceiver(
            host=host or settings.sia_host, port=chosen if chosen is not None else 0,
            accounts=accounts, forwarder=self.forwarder, sessions=sessions, clock=clock,
            metrics=SiaMetrics.on(registry), ack_timeout=settings.sia_ack_timeout_seconds)

    async def run(self, stop: asyncio.Event) -> None:
        """Run both until `stop`; either one failing ends both (the caller restarts or exits)."""
        tasks = [asyncio.create_task(self.forwarder.run(stop)),
                 asyncio.create_task(self.receiver.run(stop))]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def ready(self) -> None:
        """Until panels can connect and alarms can be forwarded."""
        await self.receiver.listening.wait()
        await self.forwarder.connected.wait()

    def status(self) -> str:
        """For /readyz: 'ok', or what keeps panels' alarms from getting through."""
        if not self.receiver.listening.is_set():
            return "not listening"
        return "ok" if self.forwarder.connected.is_set() else "mqtt disconnected"
