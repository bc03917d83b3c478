"""What the demo's simulated homes do: a gentle random mix with an early pendant press, or a scenario."""

from __future__ import annotations

from pathlib import Path

import yaml

from devices.contract import AlarmType
from devices.simulator import (
    Action,
    RandomTraffic,
    Scenario,
    SimulatorConfig,
    Step,
    load_homes,
    load_scenario,
)

from ..errors import ConfigError
from .broker import DemoBroker

# Alarms per home per hour, for each home with a device for the type: over the six demo homes
# (6 pendants, 3 fall detectors, 3 door sensors, 4 smoke detectors) that is 15 + 3 + 1.2 + 0.8 =
# 20 alarms an hour, about one every three minutes (docs/demo.md), enough to watch the board and
# the phones without drowning them; test signals (logged, never raised) come on top.
GENTLE_RATES: dict[AlarmType, float] = {
    AlarmType.SOS: 2.5,
    AlarmType.FALL: 1.0,
    AlarmType.DOOR_EXIT: 0.4,
    AlarmType.SMOKE: 0.2,
    AlarmType.TEST: 0.5,
}
OPENING_DELAY = 3.0  # seconds: something to see right after the URLs are printed
SCENARIO_CHOICES = ("demo", "random")  # plus any shipped scenario name or scenario file
Traffic = tuple[Scenario | None, RandomTraffic]


def opening_scenario(residents: Path) -> Scenario:
    """One pendant press shortly after the start, on the first pendant of the demo homes."""
    try:
        pendants = [d.id for h in load_homes(residents) for d in h.devices if d.kind == "pendant"]
    except (OSError, ValueError, yaml.YAMLError):
        pendants = []  # the import reports the file's problem with its lines
    device = pendants[0] if pendants else "pendant-0001"
    step = Step(OPENING_DELAY, device, Action.ALARM, AlarmType.SOS.value)
    return Scenario("demo-opening", "a pendant press a few seconds after the start", (step,))


def resolve_traffic(scenario: str, residents: Path) -> Traffic:
    """The script and random rates for `scenario`; ConfigError names the choices when unknown."""
    if scenario == "demo":
        return opening_scenario(residents), RandomTraffic(rates=dict(GENTLE_RATES))
    if scenario == "random":
        return None, RandomTraffic(rates=dict(GENTLE_RATES))
    try:
        script = load_scenario(scenario)
    except (ValueError, OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"--scenario: {exc}; or one of {', '.join(SCENARIO_CHOICES)}") from exc
    # no rates: the script plays once, then the homes stay connected and keep beating
    return script, RandomTraffic(rates={})


def simulator_config(traffic: Traffic, *, residents: Path, broker: DemoBroker, topic_root: str,
                     client_tag: str) -> SimulatorConfig:
    """The simulator run; it keeps the homes online until the demo stops."""
    script, rates = traffic
    return SimulatorConfig(
        mqtt_url=broker.url,
        topic_root=topic_root,
        homes_file=residents,
        seed=None,
        scenario=script,
        random_traffic=rates,
        # Device ids are client ids; on a shared broker two demos (or a test) would kick each
        # other off, so there a few uniquely named shared connections carry every device.
        mode="per-device" if broker.embedded else "multiplexed",
        mqtt_username=f"demo-devices-{client_tag}",
    )
