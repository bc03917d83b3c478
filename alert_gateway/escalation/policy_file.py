"""Escalation policies read from TOML and validated once at start-up; ConfigError says where
and why."""

from __future__ import annotations

import tomllib
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from devices.contract import ALARM_TYPES, AlarmType, Severity

from ..db.escalation import NotifyChannel, Target
from ..db.residents import Relation
from ..errors import ConfigError
from .policy import (
    CONTACT_RELATIONS,
    DEFAULT_POLICIES,
    MAX_REDIAL_DELAY_SECONDS,
    NEVER_TO_CONTACTS,
    OnExhausted,
    Outside,
    Policy,
    PolicySet,
    Select,
    Step,
    TargetSpec,
    When,
)

E = TypeVar("E", bound=StrEnum)


def load_policies(path: Path | None = None) -> PolicySet:
    """Read and validate a policies file; None reads the built-in defaults."""
    if path is None:
        text = resources.files(__package__).joinpath(DEFAULT_POLICIES).read_text("utf-8")
        where = f"built-in {DEFAULT_POLICIES}"
    else:
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise ConfigError(f"policies file {path}: {exc.strerror}") from exc
        where = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from exc
    return parse_policies(data, where=where)


def parse_policies(data: dict[str, Any], *, where: str = "policies") -> PolicySet:
    """Validate the parsed TOML: [[policy]] tables, each with [[policy.step]] tables."""
    _only(data, {"policy"}, where)
    raw = data.get("policy")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: no [[policy]] tables")
    policies: dict[str, Policy] = {}
    for i, item in enumerate(raw, 1):
        policy = _policy(item, f"{where}: policy #{i}")
        if policy.name in policies:
            raise ConfigError(f"{where}: policy {policy.name!r} is defined twice")
        policies[policy.name] = policy
    if "default" not in policies:
        raise ConfigError(
            f"{where}: a policy named 'default' is required (used when nothing matches)"
        )
    return PolicySet(policies)


def _only(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {sorted(allowed)}"
        )


POLICY_KEYS = {
    "name",
    "types",
    "severities",
    "repeat_last",
    "repeat_times",
    "redial",
    "redial_delay_seconds",
    "on_exhausted",
    "resident_cap",
    "resident_cap_hours",
    "step",
}
STEP_KEYS = {"targets", "channels", "wait_seconds", "when", "outside"}


def _policy(item: Any, where: str) -> Policy:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: must be a table")
    _only(item, POLICY_KEYS, where)
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: 'name' is required")
    where = f"{where.rsplit(':', 1)[0]}: policy {name!r}"
    types = frozenset(_strings(item.get("types", []), f"{where}: types"))
    for t in types:
        if t not in {a.value for a in AlarmType}:
            raise ConfigError(f"{where}: unknown alarm type {t!r}")
    severities = frozenset(_strings(item.get("severities", []), f"{where}: severities"))
    for s in severities:
        if s not in {v.value for v in Severity}:
            raise ConfigError(f"{where}: unknown severity {s!r} (P1, P2, P3, P4)")
    raw_steps = item.get("step")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ConfigError(f"{where}: has no [[policy.step]]; an empty policy escalates to nobody")
    steps = tuple(_step(s, f"{where}: step {n}") for n, s in enumerate(raw_steps, 1))
    repeat_last = _int(item.get("repeat_last", 0), f"{where}: repeat_last", low=0)
    if repeat_last > len(steps):
        raise ConfigError(
            f"{where}: repeat_last={repeat_last} but the policy has {len(steps)} steps"
        )
    repeat_times = _int(item.get("repeat_times", 0), f"{where}: repeat_times", low=0)
    redial_delay = _int(
        item.get("redial_delay_seconds", 60), f"{where}: redial_delay_seconds", low=1
    )
    if redial_delay > MAX_REDIAL_DELAY_SECONDS:
        raise ConfigError(
            f"{where}: redial_delay_seconds must be at most {MAX_REDIAL_DELAY_SECONDS} "
            "(a second call gets through do-not-disturb only within 3 minutes)"
        )
    cap = item.get("resident_cap")
    policy = Policy(
        name=name,
        steps=steps,
        types=types,
        severities=severities,
        repeat_last=repeat_last,
        repeat_times=repeat_times,
        redial=_bool(item.get("redial", True), f"{where}: redial"),
        redial_delay_seconds=redial_delay,
        on_exhausted=_enum(
            OnExhausted, item.get("on_exhausted", "dispatch"), f"{where}: on_exhausted"
        ),
        resident_cap=None if cap is None else _int(cap, f"{where}: resident_cap", low=1),
        resident_cap_hours=float(item.get("resident_cap_hours", 24.0)),
    )
    _never_to_contacts(policy, where)
    return policy


def _never_to_contacts(policy: Policy, where: str) -> None:
    """P4 signals and `consult` stay with the centre (DOMAIN.md): refuse anything else."""
    quiet = "P4" in policy.severities or bool(policy.types & {t.value for t in NEVER_TO_CONTACTS})
    quiet = quiet or any(not ALARM_TYPES[AlarmType(t)].escalates for t in policy.types)
    if quiet and any(t.kind is Target.CONTACT for s in policy.steps for t in s.targets):
        raise ConfigError(f"{where}: P4 and consult alarms never go to contacts")


def _step(item: Any, where: str) -> Step:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: must be a table")
    _only(item, STEP_KEYS, where)
    targets = tuple(
        _target(t, where) for t in _strings(item.get("targets", []), f"{where}: targets")
    )
    if not targets:
        raise ConfigError(f"{where}: empty step (no targets)")
    if any(t.select is Select.EACH for t in targets) and len(targets) > 1:
        raise ConfigError(f"{where}: an ':each' target must be the step's only target")
    channels_raw = item.get("channels", ["voice", "sms"])
    if channels_raw == "both":
        channels_raw = ["voice", "sms"]
    elif isinstance(channels_raw, str) and "+" in channels_raw:  # "sms+line+voice"
        channels_raw = [c.strip() for c in channels_raw.split("+")]
    names = _strings(
        [channels_raw] if isinstance(channels_raw, str) else channels_raw, f"{where}: channels"
    )
    if not names:
        raise ConfigError(f"{where}: empty step (no channels)")
    channels = frozenset(_enum(NotifyChannel, c, f"{where}: channels") for c in names)
    if "wait_seconds" not in item:
        raise ConfigError(f"{where}: wait_seconds is required")
    wait = _int(item["wait_seconds"], f"{where}: wait_seconds", low=1)
    return Step(
        targets,
        channels,
        wait,
        when=_enum(When, item.get("when", "always"), f"{where}: when"),
        outside=_enum(Outside, item.get("outside", "skip"), f"{where}: outside"),
    )


def _target(text: str, where: str) -> TargetSpec:
    """resident | dispatch | <relation or 'contact'>[:first|all|each|<n>]."""
    name, _, sel = text.strip().partition(":")
    if name in (Target.RESIDENT.value, Target.DISPATCH.value):
        if sel:
            raise ConfigError(f"{where}: target {text!r} takes no selector")
        return TargetSpec(Target(name))
    if name == "contact":
        relations = frozenset(r.value for r in CONTACT_RELATIONS)
    elif name in {r.value for r in Relation} and name != Relation.DISPATCH.value:
        relations = frozenset({name})
    else:
        allowed = [
            "resident",
            "dispatch",
            "contact",
            *(r.value for r in Relation if r != "dispatch"),
        ]
        raise ConfigError(
            f"{where}: unknown relation {name!r} in target {text!r}; use one of {allowed}"
        )
    sel = sel or "all"
    if sel.isdigit():
        if int(sel) < 1:
            raise ConfigError(f"{where}: target {text!r}: positions start at 1")
        return TargetSpec(Target.CONTACT, relations, Select.NTH, int(sel))
    return TargetSpec(Target.CONTACT, relations, _enum(Select, sel, f"{where}: target {text!r}"))


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: must be a list of strings")
    return value


def _int(value: Any, where: str, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: must be a whole number, got {value!r}")
    if value < low:
        what = "zero wait: a step must wait at least 1 s" if "wait" in where and value == 0 else ""
        raise ConfigError(
            f"{where}: must be at least {low}, got {value}" + (f" ({what})" if what else "")
        )
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: must be true or false")
    return value


def _enum(kind: type[E], value: Any, where: str) -> E:
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not one of {[v.value for v in kind]}") from None
