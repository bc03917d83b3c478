"""The C example hub (devices/examples/c), built with its own Makefile and run against Mosquitto
with the shipped configuration (per-device logins, ACL) and a real gateway, so it never rots.

Each test runs its own broker from config/mosquitto: the shipped ACL names the contract's topic
root, and the point is that the example's login, topics and last will pass it exactly as a
device maker's copy would. A failing test prints the example's output and the broker's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
import pytest
import pytest_asyncio
from sqlmodel import select

from alert_gateway.db.alerts import Alert
from alert_gateway.db.engine import make_engine, make_sessions
from alert_gateway.db.messages import InboundMessage
from alert_gateway.ops.broker_accounts import (
    GATEWAY_USERNAME,
    DeviceCredentials,
    provision_device,
    provision_gateway,
)
from alert_gateway.settings import Settings
from devices.contract import TOPIC_ROOT, Channel, Topics
from tests.brokers import free_port
from tests.harness import gateway_settings, running_gateway

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = REPO / "devices" / "examples" / "c"
MOSQUITTO_DIR = REPO / "config" / "mosquitto"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
SETUP_HINT = "scripts/setup.sh installs it (Debian: apt-get install build-essential libpaho-mqtt-dev)"
BOUND = 30.0  # seconds; a bound on each wait, never a pause: the example's first retry is at 5 s


@pytest.fixture(scope="module")
def hub_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example compiled by its own Makefile (-Wall -Wextra -Werror) in a temp dir."""
    for tool in ("make", "cc"):
        if shutil.which(tool) is None:
            pytest.fail(f"`{tool}` not found: the C example cannot be built; {SETUP_HINT}")
    build = tmp_path_factory.mktemp("c-example")
    for name in ("Makefile", "alarm_hub.c"):
        shutil.copyfile(EXAMPLE_DIR / name, build / name)
    result = subprocess.run(
        ["make", "-C", str(build)], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        hint = SETUP_HINT if "MQTTClient.h" in result.stderr or "paho" in result.stderr else ""
        pytest.fail(f"the C example does not build:\n{result.stdout}{result.stderr}\n{hint}")
    return build / "alarm_hub"


@dataclass
class Output:
    """Lines a process printed so far, with an event to await the next one."""

    lines: list[str] = field(default_factory=list, repr=False)
    grew: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    async def drain(self, stream: asyncio.StreamReader) -> None:
        """Collect lines until the stream ends (a full pipe would stall the process)."""
        while line := await stream.readline():
            self.lines.append(line.decode(errors="replace"))
            self.grew.set()

    async def until(self, text: str, within: float = BOUND, *, times: int = 1) -> None:
        """Return once `times` lines contain `text`; TimeoutError after `within` seconds."""
        async with asyncio.timeout(within):
            while self.count(text) < times:
                self.grew.clear()
                await self.grew.wait()

    def count(self, text: str) -> int:
        """How many lines contain `text`."""
        return sum(text in line for line in self.lines)


@dataclass
class Broker:
    """Mosquitto from config/mosquitto on a free port, with its accounts and log."""

    port: int
    device: DeviceCredentials  # its broker_url is the TLS listener when there is one
    gateway_password: str
    conf: Path
    cafile: Path | None = None  # the CA the device trusts, for the TLS listener
    log: Output = field(default_factory=Output)
    proc: asyncio.subprocess.Process | None = None
    drain: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start mosquitto and wait (bounded) until every listener is open."""
        started = self.log.count(" running")  # logged once every listener is open
        self.proc = await asyncio.create_subprocess_exec(
            MOSQUITTO, "-c", str(self.conf), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        assert self.proc.stdout is not None
        self.drain = asyncio.create_task(self.log.drain(self.proc.stdout))
        try:
            await self.log.until(" running", within=10, times=started + 1)
        except TimeoutError:
            pytest.fail("mosquitto did not start:\n" + "".join(self.log.lines))

    async def stop(self) -> None:
        """Terminate mosquitto (it saves its persistent state) and wait for it."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            async with asyncio.timeout(10):
                await self.proc.wait()
        if self.drain is not None:
            await self.drain

    def settings(self, database_url: str) -> Settings:
        """Gateway settings for this broker, logged in as the gateway account."""
        return gateway_settings(
            database_url,
            TOPIC_ROOT,
            mqtt_url=f"mqtt://127.0.0.1:{self.port}",
            mqtt_username=GATEWAY_USERNAME,
            mqtt_password=self.gateway_password,
        )


def broker_config(tmp_path: Path, password_file: Path, port: int, tls_port: int | None) -> Path:
    """The shipped mosquitto.conf with this run's paths and ports; fails if the file has drifted.

    With `tls_port`, the shipped commented TLS listener block is switched on as its comment says,
    with this run's certificates, bound to loopback.
    """
    data = tmp_path / "data"
    data.mkdir()
    text = (MOSQUITTO_DIR / "mosquitto.conf").read_text(encoding="utf-8")
    for old, new in {
        "password_file /mosquitto/config/passwd": f"password_file {password_file}",
        "acl_file /mosquitto/config/acl": f"acl_file {MOSQUITTO_DIR / 'acl'}",
        "persistence_location /mosquitto/data/": f"persistence_location {data}/",
        "\nlistener 1883 127.0.0.1\n": f"\nlistener {port} 127.0.0.1\n",
        "log_dest stdout": "log_dest stderr",  # unbuffered, so the log is complete on failure
    }.items():
        assert old in text, f"config/mosquitto/mosquitto.conf no longer contains {old.strip()!r}"
        text = text.replace(old, new)
    if tls_port is not None:
        block = re.search(r"^# listener 8883\n(?:# .*\n)*", text, re.MULTILINE)
        assert block, "config/mosquitto/mosquitto.conf no longer has the commented TLS listener"
        enabled = block.group(0).replace("# ", "").replace("/mosquitto/certs/", f"{tmp_path}/")
        enabled = enabled.replace("listener 8883", f"listener {tls_port} 127.0.0.1")
        text = text.replace(block.group(0), enabled)
    # As root, mosquitto would switch to user `mosquitto`, who cannot read the temp dir.
    # log_type debug logs each PUBLISH and each ACL refusal: what a failing run needs to show.
    text += f"\nuser {getpass.getuser()}\nlog_type debug\n"
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(text, encoding="utf-8")
    return conf


def require_mosquitto() -> None:
    """Fail with the fix when the broker is not installed (CI installs it with scripts/setup.sh)."""
    if not Path(MOSQUITTO).exists() or shutil.which("mosquitto_passwd") is None:
        pytest.fail("mosquitto not found; scripts/setup.sh installs it (apt-get install mosquitto)")


def make_certificates(directory: Path) -> Path:
    """A throw-away CA and a broker certificate for 127.0.0.1 (ca.crt, server.crt, server.key)."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl not found; scripts/setup.sh installs it (apt-get install openssl)")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for command in (
        ["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=test CA"],
        ["req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "server.crt", "-days", "2", "-extfile", "san.ext"],
    ):
        result = subprocess.run(["openssl", *command], cwd=directory, capture_output=True, text=True,
                                timeout=60, check=False)
        assert result.returncode == 0, f"openssl {command[0]} failed: {result.stderr}"
    return directory / "ca.crt"


@contextlib.asynccontextmanager
async def private_broker(tmp_path: Path, *, tls: bool) -> AsyncIterator[Broker]:
    """A broker from config/mosquitto with one provisioned hub and the gateway account."""
    require_mosquitto()
    password_file = tmp_path / "passwd"
    port = free_port()
    tls_port = free_port() if tls else None
    cafile = make_certificates(tmp_path) if tls else None
    device_url = f"mqtts://127.0.0.1:{tls_port}" if tls else f"mqtt://127.0.0.1:{port}"
    device = provision_device("hub-0042", password_file=password_file, broker_url=device_url, topics=Topics())
    gateway_password = provision_gateway(password_file)
    conf = broker_config(tmp_path, password_file, port, tls_port)
    broker = Broker(port, device, gateway_password, conf, cafile)
    try:
        await broker.start()
        yield broker
    finally:
        await broker.stop()


@pytest_asyncio.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    """A private broker on a plain loopback listener, stopped afterwards."""
    async with private_broker(tmp_path, tls=False) as running:
        yield running


@pytest_asyncio.fixture
async def tls_broker(tmp_path: Path) -> AsyncIterator[Broker]:
    """A private broker whose device listener is the shipped TLS block, stopped afterwards."""
    async with private_broker(tmp_path, tls=True) as running:
        yield running


@dataclass
class Hub:
    """The example hub running as a child process."""

    proc: asyncio.subprocess.Process
    out: Output

    async def exit_code(self, within: float = BOUND) -> int:
        """Wait (bounded) for the process to end."""
        async with asyncio.timeout(within):
            return await self.proc.wait()


@contextlib.asynccontextmanager
async def running_hub(
    binary: Path, broker: Broker, alarm_id: str, *, cafile: Path | None = None, keep_running: bool = False
) -> AsyncIterator[Hub]:
    """Start the example with the provisioned login; kill it afterwards if still running."""
    device = broker.device
    trusted = cafile or broker.cafile
    tls = ["--cafile", str(trusted)] if trusted else []
    proc = await asyncio.create_subprocess_exec(
        str(binary),
        "--url", device.broker_url,
        "--device-id", device.device_id,
        "--alarm-id", alarm_id,
        "--heartbeat", "60",
        *tls,
        *(["--keep-running"] if keep_running else []),
        env={"DEVICE_PASSWORD": device.password, "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    out = Output()
    drain = asyncio.create_task(out.drain(proc.stdout))
    try:
        yield Hub(proc, out)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await drain


def report(hub: Hub, broker: Broker) -> str:
    """What a device maker needs to see when the example misbehaves."""
    return "example output:\n" + "".join(hub.out.lines) + "\nmosquitto log:\n" + "".join(broker.log.lines)


@contextlib.contextmanager
def explained(hub: Hub, broker: Broker) -> Iterator[None]:
    """Turn a timeout or failed assertion into one that shows both outputs."""
    try:
        yield
    except (TimeoutError, AssertionError) as exc:
        raise AssertionError(f"{type(exc).__name__}: {exc}\n{report(hub, broker)}") from exc


async def stored(settings: Settings, device_id: str, alarm_id: str) -> tuple[list[Alert], int]:
    """The device's sos alerts and how many inbound rows hold this alarm id."""
    engine = make_engine(settings.database_url)
    try:
        async with make_sessions(engine)() as s:
            alerts = list(
                (await s.exec(select(Alert).where(Alert.device_id == device_id, Alert.type == "sos"))).all()
            )
            inbound = (
                await s.exec(
                    select(InboundMessage).where(
                        InboundMessage.device_id == device_id, InboundMessage.message_id == alarm_id
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    return alerts, len(inbound)


async def test_example_alarm_is_stored_and_the_example_stops_on_received(
    hub_binary: Path, broker: Broker, pg_url: str
) -> None:
    """With the gateway up, the example's alarm becomes one alert and the example exits 0 on `received`."""
    settings = broker.settings(pg_url)
    async with running_gateway(settings), running_hub(hub_binary, broker, "c-test-1") as hub:
        with explained(hub, broker):
            assert await hub.exit_code() == 0
            assert hub.out.count("alarm c-test-1 received by the gateway") == 1
            assert hub.out.count('"state":"received"') >= 1
            alerts, inbound = await stored(settings, broker.device.device_id, "c-test-1")
            assert (len(alerts), inbound) == (1, 1)
            assert alerts[0].source_message_id == "c-test-1"
            # the example announced itself and its will was accepted by the shipped ACL
            assert any(f"'{TOPIC_ROOT}/hub-0042/status'" in line for line in broker.log.lines)
            assert not any("Denied" in line for line in broker.log.lines)


async def test_example_repeats_the_alarm_until_a_late_gateway_stores_it_once(
    hub_binary: Path, broker: Broker, pg_url: str
) -> None:
    """Published before any gateway listens, the alarm is repeated with its id until stored: one alert."""
    settings = broker.settings(pg_url)
    async with running_hub(hub_binary, broker, "c-test-2") as hub:
        with explained(hub, broker):
            await hub.out.until("alarm c-test-2 published (attempt 1)")
            assert hub.proc.returncode is None  # no gateway, no `received`: it must keep trying
            async with running_gateway(settings):
                assert await hub.exit_code(within=BOUND + 60) == 0  # next retries at 5, 15, 35 s
            assert hub.out.count("alarm c-test-2 received by the gateway") == 1
            assert hub.out.count("alarm c-test-2 published") >= 2
            alerts, inbound = await stored(settings, broker.device.device_id, "c-test-2")
            assert (len(alerts), inbound) == (1, 1)


async def test_example_over_tls_with_the_shipped_listener_block(
    hub_binary: Path, tls_broker: Broker, pg_url: str
) -> None:
    """Over mqtts:// with --cafile (the shipped TLS listener block switched on), the alarm is stored once."""
    settings = tls_broker.settings(pg_url)  # the gateway stays on the loopback plain listener
    async with running_gateway(settings), running_hub(hub_binary, tls_broker, "c-test-3") as hub:
        with explained(hub, tls_broker):
            assert await hub.exit_code() == 0
            assert hub.out.count("connected to mqtts://127.0.0.1:") == 1
            assert hub.out.count("alarm c-test-3 received by the gateway") == 1
            alerts, inbound = await stored(settings, tls_broker.device.device_id, "c-test-3")
            assert (len(alerts), inbound) == (1, 1)


async def test_example_refuses_a_broker_its_ca_did_not_sign(hub_binary: Path, tls_broker: Broker) -> None:
    """With --cafile naming another CA, the example never logs in and says why (certificate verify failed)."""
    other_ca = tls_broker.cafile.parent / "other-ca" if tls_broker.cafile else None
    assert other_ca is not None
    other_ca.mkdir()
    stranger = make_certificates(other_ca)
    async with running_hub(hub_binary, tls_broker, "c-test-4", cafile=stranger) as hub:
        with explained(hub, tls_broker):
            await hub.out.until("certificate verify failed")
            await hub.out.until("retrying in 2 s")  # keeps trying, with its back-off
            assert hub.out.count("connected to") == 0
            assert not any("as hub-0042" in line for line in tls_broker.log.lines)


async def test_example_reconnects_after_a_broker_restart_and_its_alarm_is_stored_once(
    hub_binary: Path, broker: Broker, pg_url: str
) -> None:
    """After a broker restart the waiting example reconnects, publishes again, and is stored once."""
    settings = broker.settings(pg_url)
    async with running_hub(hub_binary, broker, "c-test-5") as hub:
        with explained(hub, broker):
            await hub.out.until("alarm c-test-5 published (attempt 1)")
            await broker.stop()
            await hub.out.until("connection lost")
            await broker.start()
            await hub.out.until("connected to", times=2)  # its back-off is 1, 2, 4 ... 30 s
            await hub.out.until("alarm c-test-5 published (attempt 2)")  # at once on a new link
            async with running_gateway(settings):
                assert await hub.exit_code(within=BOUND + 60) == 0
            alerts, inbound = await stored(settings, broker.device.device_id, "c-test-5")
            assert (len(alerts), inbound) == (1, 1)


async def test_example_that_dies_is_announced_offline_by_its_retained_will(
    hub_binary: Path, broker: Broker, pg_url: str
) -> None:
    """Killed while running on, the example's last will leaves a retained `offline` on its status topic."""
    status = Topics().for_device(broker.device.device_id, Channel.STATUS)
    async with running_gateway(broker.settings(pg_url)):
        async with running_hub(hub_binary, broker, "c-test-6", keep_running=True) as hub:
            with explained(hub, broker):
                await hub.out.until("alarm c-test-6 received by the gateway")
                assert hub.proc.returncode is None  # --keep-running: still connected
                hub.proc.kill()  # no clean disconnect, as in a power cut
                await hub.proc.wait()
                await broker.log.until("hub-0042 closed its connection")
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, username=GATEWAY_USERNAME, password=broker.gateway_password,
        identifier="agtest-status-reader", timeout=BOUND,
    ) as reader:
        await reader.subscribe(status, qos=1)
        with explained(hub, broker):
            async with asyncio.timeout(BOUND):
                message = await anext(aiter(reader.messages))
            assert (message.payload, message.retain) == (b"offline", True)
