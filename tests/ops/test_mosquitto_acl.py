"""The shipped Mosquitto configuration on a real broker: logins required, devices kept apart."""

from __future__ import annotations

import asyncio
import getpass
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest
import pytest_asyncio

from alert_gateway.ops.broker_accounts import (
    GATEWAY_USERNAME,
    DeviceCredentials,
    provision_device,
    provision_gateway,
)
from devices.contract import Channel, Topics

MOSQUITTO_DIR = Path(__file__).resolve().parents[2] / "config" / "mosquitto"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
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
    """A running broker and the accounts it knows."""

    port: int
    accounts: Accounts


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
    text += f"\nuser {getpass.getuser()}\n"
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(text, encoding="utf-8")
    return conf


@pytest_asyncio.fixture
async def broker(accounts: Accounts, tmp_path: Path) -> AsyncIterator[Broker]:
    """Mosquitto with the shipped configuration on a free port, stopped afterwards."""
    port = free_port()
    conf = local_config(accounts, tmp_path, port)
    proc = await asyncio.create_subprocess_exec(
        MOSQUITTO,
        "-c",
        str(conf),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    log: list[str] = []
    drain: asyncio.Task[None] | None = None
    try:
        # The broker logs this line once its socket is bound; wait for it rather than sleep.
        async with asyncio.timeout(10):
            while not any(f"listen socket on port {port}" in line for line in log):
                line = await proc.stdout.readline()
                assert line, "mosquitto exited:\n" + "".join(log)
                log.append(line.decode(errors="replace"))
        drain = asyncio.create_task(_drain(proc.stdout, log))  # a full pipe would stall it
        await _wait_accepting(port, accounts)
        yield Broker(port, accounts)
    finally:
        if proc.returncode is None:
            proc.terminate()
        async with asyncio.timeout(10):
            await proc.wait()
        if drain is not None:
            await drain


async def _drain(stream: asyncio.StreamReader, log: list[str]) -> None:
    while line := await stream.readline():
        log.append(line.decode(errors="replace"))


async def _wait_accepting(port: int, accounts: Accounts) -> None:
    """Connect as the gateway, a bounded number of times, until the broker takes logins."""
    last: Exception | None = None
    for _ in range(20):
        try:
            async with asyncio.timeout(TIMEOUT), gateway_client(port, accounts, "probe"):
                return
        except (aiomqtt.MqttError, TimeoutError) as exc:
            last = exc
    raise AssertionError(f"broker on port {port} never accepted the gateway: {last!r}")


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


def device_client(port: int, device: DeviceCredentials) -> aiomqtt.Client:
    """A device connection (MQTT 3.1.1, what most home hubs speak) with its own login."""
    return aiomqtt.Client(
        "127.0.0.1",
        port,
        username=device.username,
        password=device.password,
        identifier=device.client_id,
        timeout=TIMEOUT,
    )


async def next_message(client: aiomqtt.Client) -> aiomqtt.Message:
    """The next message for this client, or a TimeoutError after TIMEOUT seconds."""
    async with asyncio.timeout(TIMEOUT):
        async for message in client.messages:
            return message
    raise AssertionError("message iterator ended")


async def test_device_alarm_reaches_gateway_shared_subscription(broker: Broker) -> None:
    """Device A's alarm on its own topic reaches the gateway's $share subscription."""
    a = broker.accounts.device_a
    topic = TOPICS.for_device(a.device_id, Channel.ALARM)
    async with gateway_client(broker.port, broker.accounts, "1") as gateway:
        await gateway.subscribe(TOPICS.subscription("gateways"), qos=1)
        async with device_client(broker.port, a) as device:
            await device.publish(topic, b'{"id":"a1"}', qos=1)
        message = await next_message(gateway)
    assert message.topic.value == topic
    assert message.payload == b'{"id":"a1"}'


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
