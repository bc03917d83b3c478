"""The shipped Mosquitto configuration on a real broker: logins required, devices kept apart and
confined to the contract's channels."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest
import pytest_asyncio

from alert_gateway.ingest.connection import refused, subscriptions
from alert_gateway.ops.broker_accounts import (
    GATEWAY_USERNAME,
    DeviceCredentials,
    provision_device,
    provision_gateway,
)
from devices.contract import Channel, Topics
from tests.brokers import free_port
from tests.mosquitto import MosquittoProcess

MOSQUITTO_DIR = Path(__file__).resolve().parents[2] / "config" / "mosquitto"

TOPICS = Topics()  # the ACL names the contract's root, so these tests use it too
TIMEOUT = 5.0


@dataclass(frozen=True)
class Accounts:
    """A password file with two devices and the gateway."""

    password_file: Path
    device_a: DeviceCredentials
    device_b: DeviceCredentials
    gateway_password: str


@dataclass(frozen=True)
class Broker:
    """A running broker, the accounts it knows, and its log so far."""

    port: int
    accounts: Accounts
    log: list[str]
    new_line: asyncio.Event  # set when the log grows

    async def not_denied(self, topics: list[str]) -> list[str]:
        """Those of `topics` the broker has not logged refusing a PUBLISH on, within TIMEOUT."""

        def missing() -> list[str]:
            return [t for t in topics
                    if not any("Denied PUBLISH" in line and f"'{t}'" in line for line in self.log)]

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(TIMEOUT):
                while missing():
                    self.new_line.clear()
                    await self.new_line.wait()
        return missing()

    def dump(self) -> str:
        """The log, for an assertion message."""
        return "mosquitto log:\n" + "".join(self.log)


@pytest.fixture
def accounts(tmp_path: Path) -> Accounts:
    """Accounts made by the provisioning code itself, as an operator would."""
    password_file = tmp_path / "passwd"
    url = "mqtt://127.0.0.1:1883"
    return Accounts(
        password_file=password_file,
        device_a=provision_device(
            "dev-a", password_file=password_file, broker_url=url, topics=TOPICS
        ),
        device_b=provision_device(
            "dev-b", password_file=password_file, broker_url=url, topics=TOPICS
        ),
        gateway_password=provision_gateway(password_file),
    )


def local_config(accounts: Accounts, tmp_path: Path, port: int) -> Path:
    """A copy of config/mosquitto with this run's paths and port; fails if the file has drifted."""
    acl = tmp_path / "acl"
    shutil.copyfile(MOSQUITTO_DIR / "acl", acl)
    data = tmp_path / "data"
    data.mkdir()
    text = (MOSQUITTO_DIR / "mosquitto.conf").read_text(encoding="utf-8")
    for old, new in {
        "password_file /mosquitto/config/passwd": f"password_file {accounts.password_file}",
        "acl_file /mosquitto/config/acl": f"acl_file {acl}",
        "persistence_location /mosquitto/data/": f"persistence_location {data}/",
        "\nlistener 1883 127.0.0.1\n": f"\nlistener {port} 127.0.0.1\n",
        # stdout into a pipe is block-buffered; stderr is not, so the readiness line shows at once.
        "log_dest stdout": "log_dest stderr",
    }.items():
        assert old in text, f"mosquitto.conf no longer contains {old.strip()!r}"
        text = text.replace(old, new)
    # Run as ourselves: as root, mosquitto would switch to user `mosquitto`, who cannot read tmp.
    # Mosquitto 2.0 logs a refused PUBLISH ("Denied PUBLISH from ...") only at debug level.
    text += f"\nuser {getpass.getuser()}\nlog_type debug\n"
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(text, encoding="utf-8")
    return conf


@pytest_asyncio.fixture
async def broker(accounts: Accounts, tmp_path: Path) -> AsyncIterator[Broker]:
    """Mosquitto with the shipped configuration on a free port, stopped afterwards."""
    port = free_port()
    mosquitto = await MosquittoProcess.start(local_config(accounts, tmp_path, port))
    try:
        # it logged "running": a refused login is a real failure, told with the broker's log
        try:
            async with asyncio.timeout(TIMEOUT), gateway_client(port, accounts, "probe"):
                pass
        except (aiomqtt.MqttError, TimeoutError) as exc:
            raise mosquitto.failure(f"broker on port {port} refused the gateway: {exc!r}") from None
        yield Broker(port, accounts, mosquitto.lines, mosquitto.new_line)
    finally:
        await mosquitto.stop()


def gateway_client(port: int, accounts: Accounts, identifier: str) -> aiomqtt.Client:
    """A gateway connection (MQTT v5, as in production)."""
    return aiomqtt.Client(
        "127.0.0.1",
        port,
        username=GATEWAY_USERNAME,
        password=accounts.gateway_password,
        identifier=f"gw-{identifier}",
        protocol=aiomqtt.ProtocolVersion.V5,
        timeout=TIMEOUT,
    )


def device_client(port: int, device: DeviceCredentials, will: aiomqtt.Will | None = None) -> aiomqtt.Client:
    """A device connection (MQTT 3.1.1, what most home hubs speak) with its own login."""
    return aiomqtt.Client(
        "127.0.0.1",
        port,
        username=device.username,
        password=device.password,
        identifier=device.client_id,
        will=will,
        timeout=TIMEOUT,
    )


async def next_message(client: aiomqtt.Client) -> aiomqtt.Message:
    """The next message for this client, or a TimeoutError after TIMEOUT seconds."""
    async with asyncio.timeout(TIMEOUT):
        async for message in client.messages:
            return message
    raise AssertionError("message iterator ended")


async def test_gateways_own_subscriptions_are_granted(broker: Broker) -> None:
    """Every filter the gateway subscribes, in its share group, is granted at the QoS it asks."""
    wanted = subscriptions(TOPICS, "gateways")
    async with gateway_client(broker.port, broker.accounts, "1") as gateway:
        granted = await gateway.subscribe(wanted)
    assert refused(wanted, granted) == [], broker.dump()


async def test_device_may_publish_on_each_of_its_contract_channels(broker: Broker) -> None:
    """Alarm, cancel, heartbeat, activity and status from device A all reach the gateway's $share filters."""
    a = broker.accounts.device_a
    channels = [Channel.ALARM, Channel.CANCEL, Channel.HEARTBEAT, Channel.ACTIVITY, Channel.STATUS]
    async with gateway_client(broker.port, broker.accounts, "1") as gateway:
        await gateway.subscribe(subscriptions(TOPICS, "gateways"))
        async with device_client(broker.port, a) as device:
            for channel in channels:
                await device.publish(TOPICS.for_device(a.device_id, channel), b"{}", qos=1)
        topics = [(await next_message(gateway)).topic.value for _ in channels]
    assert sorted(topics) == sorted(TOPICS.for_device(a.device_id, c) for c in channels), broker.dump()


async def test_device_publish_outside_its_contract_channels_is_refused(broker: Broker) -> None:
    """Device A on its own feedback, an unknown channel or a deeper topic: the broker logs and drops each."""
    a = broker.accounts.device_a
    refused_topics = [TOPICS.for_device(a.device_id, Channel.FEEDBACK),
                      f"{TOPICS.root}/{a.device_id}/whatever",
                      f"{TOPICS.for_device(a.device_id, Channel.ALARM)}/extra"]
    sentinel = TOPICS.for_device(a.device_id, Channel.ALARM)
    async with gateway_client(broker.port, broker.accounts, "1") as gateway:
        await gateway.subscribe(f"{TOPICS.root}/#", qos=1)
        async with device_client(broker.port, a) as device:
            for topic in refused_topics:
                await device.publish(topic, b"{}", qos=1)
            # one connection, handled in order: a publish that got through would arrive first
            await device.publish(sentinel, b'{"id":"sentinel"}', qos=1)
        message = await next_message(gateway)
    assert message.topic.value == sentinel, broker.dump()
    assert await broker.not_denied(refused_topics) == [], broker.dump()


async def test_device_last_will_reaches_the_gateway_only_on_its_own_status(broker: Broker) -> None:
    """Device A's retained QoS 1 will on its own status fires; a will it set on B's status is dropped."""
    a, b = broker.accounts.device_a, broker.accounts.device_b
    own = TOPICS.for_device(a.device_id, Channel.STATUS)
    forged = TOPICS.for_device(b.device_id, Channel.STATUS)
    async with gateway_client(broker.port, broker.accounts, "1") as gateway:
        await gateway.subscribe(f"{TOPICS.root}/#", qos=1)
        # Each connection with A's client id takes over the one before, which fires its will:
        # first the forged one, then A's own, in that order.
        async with device_client(broker.port, a, will=aiomqtt.Will(forged, b"offline", qos=1, retain=True)):
            async with device_client(broker.port, a, will=aiomqtt.Will(own, b"offline", qos=1, retain=True)):
                async with device_client(broker.port, a):
                    message = await next_message(gateway)
    assert (message.topic.value, message.payload) == (own, b"offline"), broker.dump()


async def test_device_cannot_publish_as_another_device(broker: Broker) -> None:
    """Device A's publish to device B's alarm topic is dropped; only A's later sentinel arrives."""
    a, b = broker.accounts.device_a, broker.accounts.device_b
    own = TOPICS.for_device(a.device_id, Channel.ALARM)
    forged = TOPICS.for_device(b.device_id, Channel.ALARM)
    async with gateway_client(broker.port, broker.accounts, "1") as gateway:
        await gateway.subscribe(f"{TOPICS.root}/#", qos=1)
        async with device_client(broker.port, a) as device:
            await device.publish(forged, b'{"id":"forged"}', qos=1)
            # Same client, same connection: the broker handles these in order, so a forged
            # message that got through would arrive before the sentinel.
            await device.publish(own, b'{"id":"sentinel"}', qos=1)
        message = await next_message(gateway)
    assert (message.topic.value, message.payload) == (own, b'{"id":"sentinel"}')


async def test_device_cannot_read_another_devices_feedback(broker: Broker) -> None:
    """Device A subscribed to B's feedback gets nothing for B, only its own feedback."""
    a, b = broker.accounts.device_a, broker.accounts.device_b
    async with device_client(broker.port, a) as device:
        await device.subscribe(TOPICS.for_device(b.device_id, Channel.FEEDBACK), qos=1)
        await device.subscribe(TOPICS.for_device(a.device_id, Channel.FEEDBACK), qos=1)
        async with gateway_client(broker.port, broker.accounts, "1") as gateway:
            await gateway.publish(TOPICS.for_device(b.device_id, Channel.FEEDBACK), b"b", qos=1)
            await gateway.publish(TOPICS.for_device(a.device_id, Channel.FEEDBACK), b"a", qos=1)
        message = await next_message(device)
    assert message.payload == b"a"


async def test_anonymous_connect_is_refused(broker: Broker) -> None:
    """A client without a username cannot connect."""
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="anon", timeout=TIMEOUT):
            pass


async def test_wrong_password_is_refused(broker: Broker) -> None:
    """Device A's username with device B's password cannot connect."""
    a, b = broker.accounts.device_a, broker.accounts.device_b
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(
            "127.0.0.1",
            broker.port,
            username=a.username,
            password=b.password,
            identifier="dev-a-impostor",
            timeout=TIMEOUT,
        ):
            pass
