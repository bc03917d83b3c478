"""Terminal lines for the demo: the start-up banner and one line per alert change worth seeing."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from ..bus import AlertChange
from ..db.alerts import ACTIVE_STATUSES, Alert
from ..services import Services

log = logging.getLogger(__name__)


def say(text: str) -> None:
    """One line to stdout, flushed at once (the output is often a pipe: tests, `tee`)."""
    print(text, flush=True)


def banner(*, console_url: str, phones_url: str, name: str, password: str, broker: str,
           topic_root: str, api_token: str, scenario: str, data_dir: str,
           font_advice: str | None = None) -> None:
    """The lines a newcomer needs: where to look, how to sign in, how to stop."""
    say("")
    say("alert-gateway demo is running")
    say(f"  console:      {console_url}")
    say(f"  sign in as:   {name} / {password}   (supervisor)")
    say(f"  phones page:  {phones_url}   (fake Twilio: read the SMS, answer calls, reply 1)")
    say(f"  broker:       {broker}")
    say(f"  topic root:   {topic_root}/<device-id>/alarm   (publish here to add your own device)")
    say(f"  API token:    {api_token}")
    say(f"                (curl -H 'Authorization: Bearer …' {console_url.removesuffix('console/')}"
        "api/v1/alerts)")
    say(f"  traffic:      {scenario}")
    say(f"  data:         {data_dir}   (run again to pick up the same data)")
    if font_advice:
        say(f"  font:         {font_advice}")
    say("Ctrl-C to stop")
    say("")


class AlertPrinter:
    """Prints an alert when it opens and when its status changes, with a link to its page.

    Alerts already open when the demo starts (a restart picks up the same data) are known from
    the start, so a change to one of them is never announced as a new alert.
    """

    def __init__(self, services: Services, console_url: str) -> None:
        self._services = services
        self._console_url = console_url.rstrip("/")
        self._status: dict[int, str] = {}
        self._tz = ZoneInfo(services.settings.timezone)

    async def attach(self) -> None:
        """Note the alerts open now, then listen to committed alert changes."""
        async with self._services.sessions() as session:
            rows = await session.exec(select(Alert.id, Alert.status)
                                      .where(col(Alert.status).in_(ACTIVE_STATUSES)))
            self._status.update({i: status for i, status in rows.all() if i is not None})
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
