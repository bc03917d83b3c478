"""`alert-gateway device provision` / `gateway-account`: MQTT broker logins."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from devices.contract import Topics

from ..ops import broker_accounts
from ..settings import Settings

DEFAULT_PASSWORD_FILE = Path("config/mosquitto/passwd")
RELOAD_HINT = (
    "Mosquitto reads the password file at start and on SIGHUP: "
    "`docker compose kill -s HUP mosquitto` (or `systemctl reload mosquitto`)."
)


def register(subparsers: Any) -> None:
    """Add `device` and its actions."""
    parser = subparsers.add_parser("device", help="Device accounts on the MQTT broker.")
    actions = parser.add_subparsers(dest="device_action", required=True, metavar="ACTION")

    provision = actions.add_parser(
        "provision",
        help="Create or reset a device's broker login and print what the device needs.",
    )
    provision.add_argument("device_id", metavar="DEVICE_ID", help="Becomes the MQTT username.")
    _add_common(provision)
    provision.add_argument(
        "--mqtt-url",
        default=None,
        help="Broker URL as the device reaches it, e.g. mqtts://broker.example.jp:8883 "
        "(default: the gateway's ALERT_GATEWAY_MQTT_URL).",
    )
    provision.add_argument("--json", action="store_true", help="Print JSON instead of text.")
    provision.set_defaults(handler=_provision)

    gateway = actions.add_parser(
        "gateway-account", help="Create or reset the gateway's own broker login."
    )
    gateway.add_argument("--username", default=broker_accounts.GATEWAY_USERNAME)
    _add_common(gateway)
    gateway.set_defaults(handler=_gateway_account)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-file",
        type=Path,
        default=DEFAULT_PASSWORD_FILE,
        help=f"Mosquitto password file to update (default: {DEFAULT_PASSWORD_FILE}).",
    )
    parser.add_argument(
        "--mosquitto-passwd", default=None, metavar="PATH", help="mosquitto_passwd binary."
    )


def _provision(args: argparse.Namespace, settings: Settings) -> int:
    credentials = broker_accounts.provision_device(
        args.device_id,
        password_file=args.password_file,
        broker_url=args.mqtt_url or settings.mqtt_url,
        topics=Topics(settings.mqtt_topic_root),
        binary=args.mosquitto_passwd,
    )
    if args.json:
        print(json.dumps(credentials.as_dict(), indent=2, ensure_ascii=False))
        return 0
    print(f"Device {credentials.device_id} has a new password in {args.password_file}.")
    print(RELOAD_HINT)
    print("The password is shown only now; store it in the device, not in notes or tickets.\n")
    print(broker_accounts.render(credentials))
    return 0


def _gateway_account(args: argparse.Namespace, settings: Settings) -> int:
    password = broker_accounts.provision_gateway(
        args.password_file, username=args.username, binary=args.mosquitto_passwd
    )
    print(f"Account {args.username} has a new password in {args.password_file}.")
    print(RELOAD_HINT)
    print("Give it to every gateway replica (e.g. in .env), then restart them:\n")
    print(f"ALERT_GATEWAY_MQTT_USERNAME={args.username}")
    print(f"ALERT_GATEWAY_MQTT_PASSWORD={password}")
    return 0
