"""The message catalogues of every text people see or hear: `t(lang, key, **params)` for the
engine's SMS, voice and LINE texts, `Translator` for the console, over every `<domain>.<lang>.toml`
in this folder. Japanese is the default; both languages have the same keys (a test checks)."""

from __future__ import annotations

import logging
import tomllib
from functools import cache
from importlib import resources
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_LANGUAGE = "ja"
LANGUAGES = ("ja", "en")


def language_of(tag: str | None) -> str:
    """'ja-JP', 'JA' or None → a catalogue we have ('ja' when unknown)."""
    base = (tag or DEFAULT_LANGUAGE).split("-")[0].split("_")[0].lower()
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


@cache
def catalogue(lang: str) -> dict[str, str]:
    """Every key of one language, flattened to dotted keys; later domains may not redefine keys."""
    merged: dict[str, str] = {}
    for entry in sorted(resources.files(__package__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(f".{lang}.toml"):
            flat = _flatten(tomllib.loads(entry.read_text("utf-8")))
            clash = set(flat) & set(merged)
            if clash:
                raise ValueError(f"{entry.name}: keys defined twice: {sorted(clash)}")
            merged.update(flat)
    return merged


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = str(value)
    return out


def t(lang: str | None, key: str, **params: object) -> str:
    """The text for `key` in `lang` (falling back to Japanese), with {params} filled in."""
    code = language_of(lang)
    text = catalogue(code).get(key) or catalogue(DEFAULT_LANGUAGE).get(key)
    if text is None:
        raise KeyError(f"no message {key!r} in the {code} catalogue")
    return text.format(**params) if params else text


class Translator:
    """The console's `_(key, **params)` for one language: a missing key shows as itself (and is
    logged) rather than breaking the page an operator needs."""

    def __init__(self, lang: str | None) -> None:
        self.lang = language_of(lang)
        self._texts = catalogue(self.lang)

    def __call__(self, key: str, **params: Any) -> str:
        """The text for `key` with `{name}` placeholders filled in."""
        try:
            return t(self.lang, key, **params)
        except KeyError:
            log.warning("console text missing", extra={"key": key, "lang": self.lang})
            return key

    def maybe(self, prefix: str, value: str | None) -> str:
        """The label of an enum value (`outcome.ambulance`), or the raw value when unlisted."""
        if value is None:
            return ""
        return self._texts.get(f"{prefix}.{value}") or value
