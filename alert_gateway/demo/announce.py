"""Terminal lines for the demo: the start-up banner and one line per alert change worth seeing."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from ..bus import AlertChange
from ..db.alerts import Alert
from ..services import Services

log = logging.getLogger(__name__)


def say(text: str) -> None:
    """One line to stdout, flushed at once (the output is often a pipe: tests, `tee`)."""
    print(text, flush=True)


def banner(*, console_url: str, phones_url: str, name: str, password: str, broker: str,
           scenario: str, data_dir: str) -> None:
    """The lines a newcomer needs: where to look, how to sign in, how to stop."""
    say("")
    say("alert-gateway demo is running")
    say(f"  console:      {console_url}")
    say(f"  sign in as:   {name} / {password}   (supervisor)")
    say(f"  phones page:  {phones_url}   (fake Twilio: read the SMS, answer calls, reply 1)")
    say(f"  broker:       {broker}")
    say(f"  traffic:      {scenario}")
    say(f"  data:         {data_dir}   (run again to pick up the same data)")
    say("Ctrl-C to stop")
    say("")


class AlertPrinter:
    """Prints an alert when it opens and when its status changes, with a link to its page."""

    def __init__(self, services: Services, console_url: str) -> None:
        self._services = services
        self._console_url = console_url.rstrip("/")
        self._status: dict[int, str] = {}
        self._tz = ZoneInfo(services.settings.timezone)

    def attach(self) -> None:
        """Listen to committed alert changes."""
        self._services.bus.subscribe(self.on_change)

    async def on_change(self, change: AlertChange) -> None:
        """Look the alert up and print what is new about it."""
        async with self._services.sessions() as session:
            alert = await session.get(Alert, change.alert_id)
        if alert is None or alert.id is None:
            return
        before = self._status.get(alert.id)
        if before == alert.status:
            return
        self._status[alert.id] = alert.status
        self.print_line(alert, opened=before is None and alert.status == "open")

    def print_line(self, alert: Alert, *, opened: bool) -> None:
        """One alert line; ids only, no names (the same habit as the logs)."""
        at = self._services.clock.now().astimezone(self._tz).strftime("%H:%M:%S")
        who = alert.resident_id or "unregistered device"
        if opened:
            say(f"{at}  alert #{alert.id} {alert.severity} {alert.type}: {who}, device "
                f"{alert.device_id or '-'}  {self._console_url}/alerts/{alert.id}")
        else:
            say(f"{at}  alert #{alert.id} is {alert.status}")
