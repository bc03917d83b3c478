"""Console texts from TOML catalogues (locales/<lang>.toml); Japanese is the default."""

from __future__ import annotations

import logging
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).parent / "locales"
LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "ja"


@cache
def catalogue(lang: str) -> dict[str, str]:
    """Every key of one language, flattened to dotted names ("board.title")."""
    with (LOCALES_DIR / f"{lang}.toml").open("rb") as handle:
        return _flatten(tomllib.load(handle))


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def language_of(preferred: str | None) -> str:
    """A language the console has: the operator's own, else Japanese."""
    return preferred if preferred in LANGUAGES else DEFAULT_LANGUAGE


class Translator:
    """`_(key, **params)` for one language, falling back to Japanese, then to the key itself."""

    def __init__(self, lang: str) -> None:
        self.lang = language_of(lang)
        self._texts = catalogue(self.lang)

    def __call__(self, key: str, **params: Any) -> str:
        """The text for `key` with `{name}` placeholders filled in."""
        text = self._texts.get(key)
        if text is None:
            text = catalogue(DEFAULT_LANGUAGE).get(key)
            if text is None:
                log.warning("console text missing", extra={"key": key, "lang": self.lang})
                return key
        return text.format_map(params) if params else text

    def maybe(self, prefix: str, value: str | None) -> str:
        """The label of an enum value (`outcome.ambulance`), or the raw value when unlisted."""
        if value is None:
            return ""
        return self._texts.get(f"{prefix}.{value}") or value
