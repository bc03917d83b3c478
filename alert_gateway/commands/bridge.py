"""`alert-gateway bridge zigbee2mqtt`: speak the device contract for devices behind Zigbee2MQTT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..settings import Settings

log = logging.getLogger(__name__)
RESTART_SECONDS = 1.0


def register(subparsers: Any) -> None:
    """Add `bridge` and its kinds."""
    parser = subparsers.add_parser("bridge", help="Bridge other device systems to the device contract.")
    kinds = parser.add_subparsers(dest="bridge_kind", required=True, metavar="KIND")
    z2m = kinds.add_parser(
        "zigbee2mqtt",
        help="Map Zigbee2MQTT devices (buttons, leak, smoke, motion, door sensors) to the contract.",
        description="Read Zigbee2MQTT's topics, publish contract messages for the devices in the map "
        "and re-send alarms until the gateway has them. Runs until SIGINT or SIGTERM. The same bridge "
        "runs inside `serve` when ALERT_GATEWAY_ZIGBEE2MQTT_MAP is set (docs/devices/zigbee2mqtt.md).",
    )
    z2m.add_argument("--map", type=Path, default=None,
                     help="The YAML map (default: ALERT_GATEWAY_ZIGBEE2MQTT_MAP).")
    z2m.add_argument("--check", action="store_true",
                     help="Check the map, list what each device becomes, and exit.")
    z2m.set_defaults(handler=_zigbee2mqtt)


def _zigbee2mqtt(args: argparse.Namespace, settings: Settings) -> int:
    from ..bridges.zigbee2mqtt_bridge import Zigbee2MqttBridge
    from ..bridges.zigbee2mqtt_map import load_map
    from ..clock import SystemClock
    from ..logs import configure_logging

    path = args.map or settings.zigbee2mqtt_map
    if path is None:
        raise ConfigError("no map: pass --map FILE or set ALERT_GATEWAY_ZIGBEE2MQTT_MAP")
    bridge_map = load_map(path)
    if args.check:
        for entry in bridge_map.devices:
            print(f"{entry.friendly_name} -> {entry.device_id}"
                  + (f" ({entry.model})" if entry.model else ""))
        return 0
    configure_logging(settings.log_level, settings.log_json)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        log.info("zigbee2mqtt bridge starting", extra={"devices": len(bridge_map.devices)})
        bridge = Zigbee2MqttBridge(settings, bridge_map, clock=SystemClock())
        while not stop.is_set():  # as serve's task supervisor: a crash is logged, then restarted
            try:
                await bridge.run(stop)
            except Exception:
                log.exception("zigbee2mqtt bridge crashed, restarting")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RESTART_SECONDS)

    asyncio.run(main())
    return 0
