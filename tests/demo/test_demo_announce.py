"""The demo's terminal lines after a restart: old open alerts are not announced as new."""

from __future__ import annotations

from pathlib import Path

import pytest

from alert_gateway.bus import AlertChange, ChangeKind
from alert_gateway.clock import FakeClock
from alert_gateway.db.alerts import Alert
from alert_gateway.demo.announce import AlertPrinter
from alert_gateway.services import build_services
from alert_gateway.settings import Settings
from tests.conftest import create_schema


async def test_a_restart_does_not_announce_old_alerts_as_new(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An alert open before the start changes without a 'new alert' line; a new one gets one."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    await create_schema(url)
    clock = FakeClock()
    services = build_services(Settings(database_url=url), clock=clock)
    try:
        async with services.sessions() as session:
            old = Alert(resident_id=None, device_id="pendant-0001", type="sos", severity="P1",
                        opened_at=clock.now(), updated_at=clock.now())
            session.add(old)
            await session.commit()
        printer = AlertPrinter(services, "http://127.0.0.1:8080/console/")
        await printer.attach()  # the demo starts again: alert #1 is still open
        await printer.on_change(AlertChange(1, ChangeKind.ALARM))  # a further press on it
        assert capsys.readouterr().out == ""

        async with services.sessions() as session:
            session.add(Alert(resident_id=None, device_id="pendant-0002", type="fall",
                              severity="P1", opened_at=clock.now(), updated_at=clock.now()))
            stored = await session.get(Alert, 1)
            assert stored is not None
            stored.status = "acknowledged"
            await session.commit()
        await printer.on_change(AlertChange(2, ChangeKind.OPENED))
        await printer.on_change(AlertChange(1, ChangeKind.ACKNOWLEDGED))
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 2 and "alert #2 P1 fall" in lines[0] and "/console/alerts/2" in lines[0]
        assert lines[1].endswith("alert #1 is acknowledged")
    finally:
        await services.close()
