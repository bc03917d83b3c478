"""The board's order and its short address, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alert_gateway.console.board_data import address_area, board_order
from alert_gateway.db.alerts import Alert

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def _alert(alert_id: int, severity: str, minutes_ago: int, **values: object) -> Alert:
    opened = T0 - timedelta(minutes=minutes_ago)
    return Alert(id=alert_id, type="sos", severity=severity, opened_at=opened, updated_at=opened,
                 **values)


def test_untouched_first_then_handled_then_cancelled() -> None:
    """A new untouched P1 beats older handled P1s; a P2 nobody touched beats a taken P1."""
    alerts = [
        _alert(1, "P1", 50, taken_by="hanako"),
        _alert(2, "P1", 40, status="acknowledged", acknowledged_at=T0),
        _alert(3, "P1", 60, status="cancelled"),
        _alert(4, "P2", 30),
        _alert(5, "P1", 1),
        _alert(6, "P1", 5),
        _alert(7, "P3", 90, taken_by="hanako"),
        _alert(8, "P1", 70, acknowledged_at=T0),  # reopened after an acknowledgement: handled
    ]
    assert [a.id for a in sorted(alerts, key=board_order)] == [6, 5, 4, 8, 1, 2, 7, 3]


def test_area_drops_prefecture_and_house_number() -> None:
    """The board shows where, not the door: city and district only."""
    assert address_area("石川県金沢市広坂1-1-1") == "金沢市広坂"
    assert address_area("東京都新宿区西新宿２丁目８−１") == "新宿区西新宿"
    assert address_area("金沢市広坂") == "金沢市広坂"
    assert address_area("123 Main St") == "123 Main St"  # nothing left: the whole address
    assert address_area(None) is None and address_area("") is None
