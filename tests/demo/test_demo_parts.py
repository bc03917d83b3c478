"""The demo's parts on their own: broker choice, the demo account, per-folder settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest
import pytest_asyncio
from sqlmodel import col, select

from alert_gateway.clock import FakeClock
from alert_gateway.console.passwords import verify_password
from alert_gateway.db.auth import Operator
from alert_gateway.db.engine import SessionFactory, make_engine, make_sessions
from alert_gateway.demo.accounts import PASSWORD_FILE, ensure_demo_account
from alert_gateway.demo.broker import DemoBroker, demo_broker, free_port, reachable
from alert_gateway.demo.data import DemoOptions, demo_settings
from alert_gateway.settings import Settings
from tests.conftest import create_schema


@pytest_asyncio.fixture
async def demo_sessions(sqlite_url: str) -> AsyncIterator[SessionFactory]:
    """Sessions on a fresh SQLite schema."""
    await create_schema(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        yield make_sessions(engine)
    finally:
        await engine.dispose()


async def demo_hash(sessions: SessionFactory) -> str | None:
    """The stored password hash of the demo account."""
    async with sessions() as session:
        query = select(Operator).where(col(Operator.name) == "demo")
        operator = (await session.exec(query)).one()
    assert operator.role == "supervisor"
    return operator.password_hash


async def test_the_demo_account_keeps_its_password(
    demo_sessions: SessionFactory, tmp_path: Path, clock: FakeClock
) -> None:
    """A second start returns the same password and leaves the account as it was."""
    first = await ensure_demo_account(demo_sessions, tmp_path, now=clock.now())
    stored = await demo_hash(demo_sessions)
    assert await ensure_demo_account(demo_sessions, tmp_path, now=clock.now()) == first
    assert await demo_hash(demo_sessions) == stored
    assert (tmp_path / PASSWORD_FILE).stat().st_mode & 0o077 == 0


async def test_a_lost_password_file_gets_a_new_password_that_signs_in(
    demo_sessions: SessionFactory, tmp_path: Path, clock: FakeClock
) -> None:
    """The file wins over the database, so the printed password always works."""
    _, old = await ensure_demo_account(demo_sessions, tmp_path, now=clock.now())
    (tmp_path / PASSWORD_FILE).unlink()
    _, new = await ensure_demo_account(demo_sessions, tmp_path, now=clock.now())
    assert new != old and verify_password(await demo_hash(demo_sessions), new)


async def test_nothing_listening_is_not_reachable() -> None:
    """The probe answers False at once for a closed port."""
    assert not await reachable(f"mqtt://127.0.0.1:{free_port()}")


async def test_the_embedded_broker_wants_a_username() -> None:
    """Anonymous clients are refused (no offline queueing for them); a username gets in."""
    async with demo_broker(None, force_embedded=True) as broker:
        assert broker.embedded and broker.url.startswith("mqtt://127.0.0.1:")
        port = int(broker.url.rsplit(":", 1)[1])
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", port, timeout=5):
                pass
        async with aiomqtt.Client("127.0.0.1", port, username="someone", timeout=5,
                                  protocol=aiomqtt.ProtocolVersion.V311):
            pass


def test_each_data_folder_has_its_own_topic_root_and_client_id(tmp_path: Path) -> None:
    """Two demos on one broker never see each other's devices or take each other's session."""
    broker = DemoBroker("mqtt://127.0.0.1:1883", embedded=False)
    one = demo_settings(Settings(), DemoOptions(data_dir=tmp_path / "a"), broker)
    two = demo_settings(Settings(), DemoOptions(data_dir=tmp_path / "b"), broker)
    assert one.mqtt_topic_root != two.mqtt_topic_root
    assert one.mqtt_client_id != two.mqtt_client_id
    assert not one.mqtt_topic_root.startswith("eldercare/")
    assert one.twilio_api_base == "http://127.0.0.1:8099"


def test_the_embedded_broker_means_mqtt_3_1_1_with_a_username(tmp_path: Path) -> None:
    """amqtt speaks 3.1.1 only and queues only for clients that log in."""
    broker = DemoBroker("mqtt://127.0.0.1:40000", embedded=True)
    settings = demo_settings(Settings(), DemoOptions(data_dir=tmp_path), broker)
    assert settings.mqtt_protocol == "3.1.1" and settings.mqtt_username
    assert settings.mqtt_url == broker.url and settings.mqtt_share_group is None
