"""The configuration reference as a Markdown table (README.md's generated section)."""

from __future__ import annotations

from pydantic import SecretStr

from . import Settings
from .sources import ENV_PREFIX


def reference_table() -> str:
    """The configuration reference as a Markdown table (README.md's generated section)."""
    rows = ["| environment variable | default | allowed | meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = "(secret)" if isinstance(default, SecretStr) else ("—" if default is None else default)
        description = " ".join((field.description or "").split())
        rows.append(f"| `{ENV_PREFIX}{name.upper()}` | `{shown}` | {allowed_range(name)} "
                    f"| {description} |")
    return "\n".join(rows)


def allowed_range(name: str) -> str:
    """The bounds of a numeric setting, e.g. `≥ 1, ≤ 1440`; empty for the others."""
    bounds = []
    for rule in Settings.model_fields[name].metadata:
        for attribute, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if (value := getattr(rule, attribute, None)) is not None:
                bounds.append(f"{sign} {value}")
    return ", ".join(bounds)
