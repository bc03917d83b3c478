"""/metrics shows alarms flowing and passes `promtool check metrics` (Prometheus naming rules)."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from alert_gateway.clock import FakeClock
from alert_gateway.web.app import make_app
from tests.harness import device_client, gateway_settings, running_gateway


async def test_metrics_show_the_alarm_and_pass_promtool(
    sqlite_url: str, topic_root: str, clock: FakeClock
) -> None:
    """After one pendant alarm the board gauge and counters say so, and promtool finds no problem."""
    settings = gateway_settings(sqlite_url, topic_root)
    async with (
        running_gateway(settings, clock=clock) as (gateway, changes),
        device_client(topic_root, clock=clock) as dev,
    ):
        await dev.alarm("pendant-1", "m1", "sos")
        registry = gateway.services.metrics.registry

        async def on_board() -> bool:
            value = registry.get_sample_value(
                "alert_gateway_alerts_open", {"status": "open", "severity": "P1"}
            )
            return value == 1

        await changes.until(on_board)
        async with TestClient(TestServer(make_app(gateway.services, gateway))) as client:
            response = await client.get("/metrics")
            body = await response.read()
    text = body.decode()
    assert 'alert_gateway_mqtt_messages_total{kind="alarm",result="accepted"} 1.0' in text
    assert 'alert_gateway_alerts_opened_total{severity="P1",type="sos"} 1.0' in text
    assert "alert_gateway_build_info{" in text
    proc = await asyncio.create_subprocess_exec(
        "promtool",
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await proc.communicate(body)
    assert proc.returncode == 0, output.decode()


async def test_metrics_can_require_an_api_token(sqlite_url: str, clock: FakeClock) -> None:
    """With metrics_require_auth, /metrics answers 401 without a token and 200 with one."""
    from alert_gateway.access import tokens
    from alert_gateway.services import build_services
    from alert_gateway.settings import Settings
    from tests.conftest import create_schema

    await create_schema(sqlite_url)
    services = build_services(Settings(database_url=sqlite_url, metrics_require_auth=True), clock=clock)
    async with services.sessions() as s:
        _row, token = await tokens.create(s, name="prometheus", now=clock.now())
        await s.commit()
    async with TestClient(TestServer(make_app(services))) as client:
        assert (await client.get("/metrics")).status == 401
        ok = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert ok.status == 200
    await services.close()


async def test_the_series_the_alert_rules_read_start_at_zero(sqlite_url: str, clock: FakeClock) -> None:
    """Right after start /metrics already shows the rejected-alarm, bad-signature and Twilio-error
    series at 0, so `increase()` sees the first one after a restart."""
    from alert_gateway.services import build_services
    from alert_gateway.settings import Settings
    from tests.conftest import create_schema

    await create_schema(sqlite_url)
    services = build_services(Settings(database_url=sqlite_url), clock=clock)
    try:
        async with TestClient(TestServer(make_app(services))) as client:
            text = await (await client.get("/metrics")).text()
    finally:
        await services.close()
    expected = [
        'alert_gateway_mqtt_messages_total{kind="alarm",result="rejected_schema"} 0.0',
        'alert_gateway_mqtt_messages_total{kind="alarm",result="accepted"} 0.0',
        'alert_gateway_mqtt_rejected_total{reason="not_json"} 0.0',
        'alert_gateway_webhook_refused_total{reason="bad_signature"} 0.0',
        'alert_gateway_twilio_errors_total{kind="transient",operation="send_sms"} 0.0',
        'alert_gateway_twilio_errors_total{kind="permanent",operation="place_call"} 0.0',
        'alert_gateway_twilio_request_seconds_count{operation="send_sms"} 0.0',
        'alert_gateway_notifications_total{channel="voice",status="not_reached"} 0.0',
    ]
    missing = [line for line in expected if line not in text]
    shown = [line for line in text.splitlines() if line.startswith("alert_gateway_")]
    assert not missing, f"missing at start: {missing}\n/metrics had:\n" + "\n".join(shown)
