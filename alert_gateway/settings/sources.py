"""Where each setting came from (environment, *_FILE secret, TOML file, argument), so that an
invalid one is reported in one line that names it the way the person wrote it."""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import ConfigError

ENV_PREFIX = "ALERT_GATEWAY_"
FILE_SUFFIX = "_FILE"  # Docker and Kubernetes mount secrets as files: ALERT_GATEWAY_X_FILE=/run/…

_BOUNDS = {
    "greater_than_equal": ("ge", "≥"),
    "greater_than": ("gt", ">"),
    "less_than_equal": ("le", "≤"),
    "less_than": ("lt", "<"),
}
_KINDS = {
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "bool_parsing": "true or false",
    "string_type": "text",
}


def environment() -> dict[str, str]:
    """ALERT_GATEWAY_* variables, names upper-cased (pydantic-settings matches them ignoring case)."""
    return {k.upper(): v for k, v in os.environ.items() if k.upper().startswith(ENV_PREFIX)}


def read_toml(path: Path | None) -> dict[str, Any]:
    """The TOML file's table, or {} without a file; a syntax error names the file and line."""
    if path is None:
        return {}
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None


@dataclass
class Origins:
    """Which source set each field, for error messages."""

    fields: set[str]
    toml_path: Path | None
    toml_keys: set[str]
    overrides: set[str]
    files: dict[str, str] = field(default_factory=dict)  # field -> the secret file it came from

    def name(self, name: str) -> str:
        """The setting as the person wrote it: variable, secret file, file key or argument."""
        variable = ENV_PREFIX + name.upper()
        if name in self.overrides:
            return name
        if name in self.files:
            return f"{variable}{FILE_SUFFIX} ({self.files[name]})"
        if variable in environment() or name not in self.toml_keys:
            return variable
        return f"{name} in {self.toml_path}"

    def describe(self, exc: ValidationError, *, secret: Iterable[str]) -> str:
        """Every problem of a failed validation, on one line."""
        hidden = set(secret)
        return "; ".join(self._one(error, hidden) for error in exc.errors())

    def _one(self, error: Any, hidden: set[str]) -> str:
        message = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:
            return message  # a rule across settings names them itself
        name = str(error["loc"][0])
        if error["type"] == "extra_forbidden":
            close = difflib.get_close_matches(name, self.fields, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            return f"{self.toml_path}: {name!r} is not a setting{hint}"
        got = "" if name in hidden else f" (got {error['input']})"
        return f"{self.name(name)} {_phrase(error['type'], error.get('ctx', {}), message)}{got}"


def _phrase(kind: str, ctx: dict[str, Any], message: str) -> str:
    if kind in _BOUNDS:
        key, sign = _BOUNDS[kind]
        return f"must be {sign} {ctx[key]}"
    if kind in _KINDS:
        return f"must be {_KINDS[kind]}"
    if kind == "literal_error":
        return f"must be {ctx['expected']}"
    return message if message.startswith("must") else f"is invalid: {message}"


def check_names(fields: Iterable[str]) -> None:
    """A misspelt ALERT_GATEWAY_* variable would be ignored in silence: refuse it instead."""
    known = {ENV_PREFIX + name.upper() for name in fields}
    known |= {name + FILE_SUFFIX for name in known}
    for variable in sorted(environment()):
        if variable not in known:
            close = difflib.get_close_matches(variable, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"{variable} is not a setting{hint}")


def secret_files(fields: Iterable[str], origins: Origins) -> dict[str, str]:
    """Values of ALERT_GATEWAY_<NAME>_FILE variables: each file's text, trailing newline removed."""
    env = environment()
    values: dict[str, str] = {}
    for name in fields:
        variable = ENV_PREFIX + name.upper()
        file_variable = variable + FILE_SUFFIX
        if file_variable not in env:
            continue
        if variable in env:
            raise ConfigError(f"{variable} and {file_variable} are both set; keep one")
        path = Path(env[file_variable])
        try:
            values[name] = path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise ConfigError(f"{file_variable}: cannot read {path} ({reason})") from None
        origins.files[name] = str(path)
    return values

