"""Escalation policies as the engine uses them: steps, targets, channels and when they apply
(read from TOML by policy_file.py)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from devices.contract import AlarmType

from ..db.escalation import NotifyChannel, Target
from ..db.residents import Relation
from ..i18n.said import say, term

DEFAULT_POLICIES = "default_policies.toml"
# "contact" means the resident's own people, in the resident's order; never the centre itself.
CONTACT_RELATIONS = frozenset({Relation.FAMILY, Relation.NEIGHBOUR, Relation.CARE_MANAGER})
MAX_REDIAL_DELAY_SECONDS = 180  # a repeat call within 3 minutes gets through do-not-disturb
NEVER_TO_CONTACTS = frozenset({AlarmType.CONSULT, AlarmType.TEST, AlarmType.CHECKIN})


class Select(StrEnum):
    """Which of the matching contacts a target names."""

    FIRST = "first"
    ALL = "all"
    EACH = "each"  # one at a time in the resident's order, each with the step's wait
    NTH = "nth"


class When(StrEnum):
    """When a step runs (night hours come from settings)."""

    ALWAYS = "always"
    DAY = "day"
    NIGHT = "night"


class Outside(StrEnum):
    """What a step does outside its hours."""

    SKIP = "skip"
    DEFER = "defer"  # wait for its hours (technical alarms never wake anyone)


class OnExhausted(StrEnum):
    """Who hears that nobody answered."""

    DISPATCH = "dispatch"  # SMS and call to the dispatch centre, plus the timeline
    CONSOLE = "console"  # the timeline (console) only


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """One target of a step: the resident, the dispatch centre, or contacts by relation."""

    kind: Target
    relations: frozenset[str] = frozenset()
    select: Select = Select.ALL
    nth: int = 1

    def shown(self) -> dict[str, Any]:
        """The target as a timeline parameter: 「家族それぞれ」, "each family contact"."""
        if self.kind is not Target.CONTACT:
            return term(f"target.{self.kind.value}")
        who = (term("timeline.stage.contact") if self.relations == CONTACT_RELATIONS
               else term(f"relation.{next(iter(self.relations))}"))
        return say(f"timeline.stage.{self.select.value}", who=who, nth=self.nth).data()

    def describe(self) -> str:
        """The target as written in the file."""
        if self.kind is not Target.CONTACT:
            return self.kind.value
        rel = "contact" if self.relations == CONTACT_RELATIONS else next(iter(self.relations))
        return f"{rel}:{self.nth if self.select is Select.NTH else self.select.value}"


@dataclass(frozen=True, slots=True)
class Step:
    """Targets, channels and how long to wait for an acknowledgement before the next step."""

    targets: tuple[TargetSpec, ...]
    channels: frozenset[NotifyChannel]
    wait_seconds: int
    when: When = When.ALWAYS
    outside: Outside = Outside.SKIP


@dataclass(frozen=True, slots=True)
class Policy:
    """An ordered list of steps, a repeating tail and what happens when nobody answers."""

    name: str
    steps: tuple[Step, ...]
    types: frozenset[str] = frozenset()
    severities: frozenset[str] = frozenset()
    repeat_last: int = 0
    repeat_times: int = 0
    redial: bool = True
    redial_delay_seconds: int = 60
    on_exhausted: OnExhausted = OnExhausted.DISPATCH
    resident_cap: int | None = None  # at most this many notified steps per resident ...
    resident_cap_hours: float = 24.0  # ... in this window (technical alarms)


@dataclass(frozen=True, slots=True)
class PolicySet:
    """Every policy, chosen by alarm type first, then by severity."""

    policies: dict[str, Policy]

    def select(self, alarm_type: str, severity: str) -> Policy:
        """The policy for an alert: a type match wins over a severity match."""
        for policy in self.policies.values():
            if alarm_type in policy.types:
                return policy
        for policy in self.policies.values():
            if severity in policy.severities:
                return policy
        return self.policies["default"]

    def get(self, name: str) -> Policy | None:
        """A policy by name (an escalation keeps the name it started with)."""
        return self.policies.get(name)
