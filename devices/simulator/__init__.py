"""Device simulator: homes of simulated devices that speak the device contract over MQTT."""

from .config import SimulatorConfig, SimulatorError
from .homes import DeviceSpec, Home, generate_homes, load_homes
from .randomize import RandomTraffic
from .report import AlarmRecord, Feedback, SimulationReport
from .runner import run_simulator
from .scenario import Action, Scenario, Step, load_scenario, parse_scenario, scenario_names

__all__ = [
    "Action",
    "AlarmRecord",
    "DeviceSpec",
    "Feedback",
    "Home",
    "RandomTraffic",
    "Scenario",
    "SimulationReport",
    "SimulatorConfig",
    "SimulatorError",
    "Step",
    "generate_homes",
    "load_homes",
    "load_scenario",
    "parse_scenario",
    "run_simulator",
    "scenario_names",
]
