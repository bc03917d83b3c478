"""A policy made concrete for one resident: which people each step reaches, in order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..db.escalation import Target
from .planner_types import Person
from .policy import Policy, Select, Step, TargetSpec


@dataclass(frozen=True, slots=True)
class Stage:
    """A policy step made concrete: an ':each' step becomes one stage per contact."""

    policy_step: int
    step: Step
    people: tuple[Person, ...]
    label: str

    @property
    def shown(self) -> list[dict[str, Any]]:
        """Whom the step reaches, as a timeline parameter (in the reader's words)."""
        return [target.shown() for target in self.step.targets]


def stages(policy: Policy, people: Sequence[Person]) -> list[Stage]:
    """Flatten the policy over this resident's people; deterministic, so restarts agree."""
    out: list[Stage] = []
    for n, step in enumerate(policy.steps):
        if len(step.targets) == 1 and step.targets[0].select is Select.EACH:
            spec = step.targets[0]
            matched = _contacts(spec, people)
            for person in matched:
                out.append(Stage(n, step, (person,), spec.describe()))
            if not matched:
                out.append(Stage(n, step, (), spec.describe()))
            continue
        chosen: dict[tuple[str, int | None, str], Person] = {}
        for spec in step.targets:
            for person in _resolve(spec, people):
                chosen.setdefault(person.key, person)
        out.append(
            Stage(n, step, tuple(chosen.values()), ", ".join(t.describe() for t in step.targets))
        )
    return out


def _contacts(spec: TargetSpec, people: Sequence[Person]) -> list[Person]:
    found = [p for p in people if p.target is Target.CONTACT and p.relation in spec.relations]
    return sorted(found, key=lambda p: (p.priority, p.contact_id or 0))


def _resolve(spec: TargetSpec, people: Sequence[Person]) -> list[Person]:
    if spec.kind is not Target.CONTACT:
        return [p for p in people if p.target is spec.kind]
    found = _contacts(spec, people)
    if spec.select is Select.FIRST:
        return found[:1]
    if spec.select is Select.NTH:
        return found[spec.nth - 1 : spec.nth]
    return found
