"""The MicroPython pendant example cannot run here (no MicroPython, no ESP32); these tests keep it
from rotting as far as CPython can: it compiles, imports only what MicroPython on ESP32 has, and
follows the contract's topics and re-publish schedule."""

from __future__ import annotations

import ast
from pathlib import Path

from devices.contract import Channel

EXAMPLE = Path(__file__).resolve().parents[2] / "devices" / "examples" / "micropython" / "pendant.py"
# Modules of MicroPython's ESP32 port, plus umqtt from micropython-lib (installed with mip).
MICROPYTHON_MODULES = {"json", "os", "time", "machine", "network", "ntptime", "ssl", "gc",
                       "binascii", "umqtt.robust", "umqtt.simple"}


def _tree() -> ast.Module:
    return ast.parse(EXAMPLE.read_text(encoding="utf-8"), filename=str(EXAMPLE))


def test_pendant_example_compiles() -> None:
    """pendant.py byte-compiles with CPython (MicroPython's syntax is a subset of it)."""
    compile(EXAMPLE.read_text(encoding="utf-8"), str(EXAMPLE), "exec")


def test_pendant_example_imports_only_micropython_modules() -> None:
    """Every import is a module MicroPython's ESP32 port or micropython-lib's umqtt provides."""
    imported = set()
    for node in ast.walk(_tree()):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    assert imported <= MICROPYTHON_MODULES, imported - MICROPYTHON_MODULES


def test_pendant_example_uses_the_contract_channels_and_schedule() -> None:
    """Its topics are contract channels and its re-publish schedule is the contract's 5, 10, 20, 40, 60 s."""
    tree = _tree()
    channels = {node.args[0].value for node in ast.walk(tree)
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "topic"
                and isinstance(node.args[0], ast.Constant)}
    assert channels == {c.value for c in Channel} - {Channel.CANCEL.value, Channel.ACTIVITY.value}
    schedule = next(node.value for node in ast.walk(tree)
                    if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "RETRY_S")
    assert ast.literal_eval(schedule) == (5, 10, 20, 40, 60)
