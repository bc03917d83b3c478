"""Structure the review asked for, kept true: one writer per state."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "alert_gateway"


def _writers(attribute: str, names: set[str]) -> set[str]:
    """Modules that assign `<name>.<attribute>` for a variable named one of `names`."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                for part in target.elts if isinstance(target, ast.Tuple) else [target]:
                    if (isinstance(part, ast.Attribute) and part.attr == attribute
                            and isinstance(part.value, ast.Name) and part.value.id in names):
                        found.add(str(path.relative_to(PACKAGE)))
    return found


def test_only_alert_actions_write_an_alert_status() -> None:
    """Acknowledge, resolve, cancel, re-open and restore all go through alerts/actions.py."""
    assert _writers("status", {"alert", "active", "incident"}) == {"alerts/actions.py"}


def test_only_the_escalation_hooks_write_an_escalation_state() -> None:
    """Every escalation transition (plan, guard, stop, watch, restart) is in escalation/hooks.py."""
    assert _writers("state", {"escalation", "esc"}) == {"escalation/hooks.py"}


def _imports(package: str) -> set[str]:
    """Top-level alert_gateway packages that modules of `package` import from."""
    found: set[str] = set()
    for path in (PACKAGE / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 2 and node.module:
                found.add(node.module.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.level == 2:
                found.update(alias.name for alias in node.names)
    return found


def test_the_http_faces_do_not_import_each_other() -> None:
    """api/ and console/ stand side by side on access/; only web/app.py composes them."""
    assert not _imports("api") & {"console", "web", "gateway", "commands"}
    assert not _imports("console") & {"api", "web", "gateway", "commands"}
    assert not _imports("access") & {"api", "console", "web", "gateway", "commands"}


def test_every_timeline_entry_is_written_with_a_message_key() -> None:
    """Each `AlertEvent(...)` in the package stores its text as a key (`said`), so every reader
    sees it in their own language; only an operator's own note is free text."""
    free_text = []
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text()
        for node in ast.walk(ast.parse(source, str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "AlertEvent"):
                call = ast.get_source_segment(source, node) or ""
                if "said" not in call and "**" not in call and "EventKind.NOTE" not in call:
                    free_text.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert free_text == []
