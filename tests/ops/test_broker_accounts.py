"""Device provisioning: valid ids only, strong passwords, the password file kept, clear output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alert_gateway.cli import main
from alert_gateway.errors import ConfigError, InvalidInput
from alert_gateway.ops import broker_accounts
from devices.contract import Channel, Topics

TOPICS = Topics("test/root")
SHIPPED_ACL = Path(__file__).resolve().parents[2] / "config" / "mosquitto" / "acl"


def usernames(password_file: Path) -> list[str]:
    """The accounts in a Mosquitto password file, in file order."""
    return [line.split(":", 1)[0] for line in password_file.read_text().splitlines() if line]


def test_passwords_are_long_random_and_url_safe() -> None:
    """Each password has at least 192 bits from the CSPRNG and needs no quoting."""
    passwords = {broker_accounts.generate_password() for _ in range(100)}
    assert len(passwords) == 100
    for password in passwords:
        assert len(password) >= 32
        assert password.replace("-", "").replace("_", "").isalnum()


@pytest.mark.parametrize("bad", ["", "a/b", "dev+1", "dev#", "-lead", "x" * 65, "a:b", "é"])
def test_invalid_device_ids_are_refused(bad: str) -> None:
    """Ids that could break the ACL's %u pattern or the topic shape are refused."""
    with pytest.raises(InvalidInput):
        broker_accounts.validate_device_id(bad)


def test_gateway_username_cannot_be_a_device() -> None:
    """A device named like the gateway account would get read/write on every device's topics."""
    with pytest.raises(InvalidInput, match="reserved"):
        broker_accounts.validate_device_id(broker_accounts.GATEWAY_USERNAME)


def test_credentials_list_the_contract_topics_with_qos() -> None:
    """The device is told its own topics from devices.contract.Topics, with QoS and direction."""
    creds = broker_accounts.device_credentials(
        "hub-1", "pw", broker_url="mqtts://broker:8883", topics=TOPICS
    )
    assert (creds.username, creds.client_id) == ("hub-1", "hub-1")
    by_topic = {use.topic: use for use in creds.topics}
    alarm = by_topic[TOPICS.for_device("hub-1", Channel.ALARM)]
    assert (alarm.direction, alarm.qos) == ("publish", "1")
    feedback = by_topic[TOPICS.for_device("hub-1", Channel.FEEDBACK)]
    assert feedback.direction == "subscribe"
    assert len(by_topic) == len(Channel)
    text = broker_accounts.render(creds)
    assert "mqtts://broker:8883" in text and "state=received" in text
    assert "drops a publish on any other topic" in text


def test_shipped_acl_grants_a_device_exactly_the_topics_it_is_told() -> None:
    """The ACL's `pattern` lines are the provisioned topics: publish is write, subscribe is read."""
    lines = SHIPPED_ACL.read_text(encoding="utf-8").splitlines()
    granted = {tuple(line.split()[1:]) for line in lines if line.startswith("pattern ")}
    told = {("write" if use.direction == "publish" else "read", use.topic)
            for use in broker_accounts.device_topics("%u", Topics())}
    assert granted == told


def test_set_password_creates_then_updates_the_file(tmp_path: Path) -> None:
    """The first account creates the file; later ones are added; a reset replaces the hash."""
    password_file = tmp_path / "mosquitto" / "passwd"
    broker_accounts.set_password(password_file, "dev-a", "one")
    first = password_file.read_text()
    broker_accounts.set_password(password_file, "dev-b", "two")
    broker_accounts.set_password(password_file, "dev-a", "three")
    assert usernames(password_file) == ["dev-a", "dev-b"]
    assert first.splitlines()[0] != password_file.read_text().splitlines()[0]
    assert "three" not in password_file.read_text()  # hashed, never stored in clear


def test_missing_mosquitto_passwd_is_a_clear_error(tmp_path: Path) -> None:
    """Without the binary the error names it and how to install it."""
    with pytest.raises(ConfigError, match="apt-get install mosquitto"):
        broker_accounts.set_password(
            tmp_path / "passwd", "dev-a", "pw", binary=str(tmp_path / "no-such-binary")
        )


def test_cli_provision_prints_what_the_device_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`alert-gateway device provision` updates the file and prints URL, login, topics and rule."""
    password_file = tmp_path / "passwd"
    code = main(
        [
            "device",
            "provision",
            "pendant-7",
            "--password-file",
            str(password_file),
            "--mqtt-url",
            "mqtts://broker.example.jp:8883",
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["broker_url"] == "mqtts://broker.example.jp:8883"
    assert out["username"] == "pendant-7" and len(out["password"]) >= 32
    assert "eldercare/v1/devices/pendant-7/alarm" in [t["topic"] for t in out["topics"]]
    assert usernames(password_file) == ["pendant-7"]


def test_cli_refuses_a_bad_device_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad id exits with code 2 and a one-line reason, and touches no file."""
    password_file = tmp_path / "passwd"
    assert main(["device", "provision", "a/b", "--password-file", str(password_file)]) == 2
    assert "invalid" in capsys.readouterr().err
    assert not password_file.exists()


def test_cli_gateway_account_prints_env_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`device gateway-account` prints the two environment variables the gateways need."""
    password_file = tmp_path / "passwd"
    assert main(["device", "gateway-account", "--password-file", str(password_file)]) == 0
    out = capsys.readouterr().out
    assert "ALERT_GATEWAY_MQTT_USERNAME=alert-gateway" in out
    assert "ALERT_GATEWAY_MQTT_PASSWORD=" in out
    assert usernames(password_file) == ["alert-gateway"]
