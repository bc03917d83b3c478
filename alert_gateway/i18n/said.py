"""Texts kept as a message key and parameters (a timeline entry's `data`), rendered in each
reader's language when shown; `english` fills the `message` column the API and logs read.

Parameters name people and languages by stable references, resolved when shown:
`person("contact:3", "Hanako")` shows the contact's current name, `language("ja")` shows 日本語 to
a Japanese reader and "Japanese" to an English one, `term("channel.sms")` a catalogue word.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import t

TEXT_KEY, PARAMS = "text_key", "params"


def person(ref: str, name: str | None = None) -> dict[str, str]:
    """Someone by reference ("contact:3", "operator:demo", "resident", "dispatch"); `name` is
    shown when the reference no longer resolves (a contact removed since)."""
    return {"person": ref, "name": name} if name else {"person": ref}


def language(code: str) -> dict[str, str]:
    """A language by its code, shown by its name in the reader's language."""
    return {"language": code}


def term(key: str) -> dict[str, str]:
    """A word of the catalogue (an alarm type, a channel, an outcome), shown translated."""
    return {"term": key}


@dataclass(frozen=True)
class Said:
    """One text to show: its catalogue key and parameters (plain values or the references above)."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)

    def data(self) -> dict[str, Any]:
        """How it is stored in a timeline entry's `data`."""
        return {TEXT_KEY: self.key, PARAMS: self.params}

    def render(self, lang: str | None, names: Mapping[str, str] | None = None) -> str:
        """The text in `lang`; `names` maps person references to the names people know."""
        known = names or {}
        return t(lang, self.key, **{k: _shown(v, lang, known) for k, v in self.params.items()})

    @property
    def english(self) -> str:
        """The English text with the names known when written (the `message` column)."""
        return self.render("en")


def say(key: str, **params: Any) -> Said:
    """A text to store: `say("timeline.step.notifying", step=1, who=[person(...)])`."""
    return Said(key, params)


def stored(data: Mapping[str, Any]) -> Said | None:
    """The text kept in a timeline entry's data, or None for an entry from before keys."""
    key, params = data.get(TEXT_KEY), data.get(PARAMS)
    if isinstance(key, str) and isinstance(params, dict):
        return Said(key, params)
    return None


def _shown(value: Any, lang: str | None, names: Mapping[str, str]) -> str:
    if isinstance(value, list):
        return t(lang, "list.separator").join(_shown(v, lang, names) for v in value)
    if not isinstance(value, dict):
        return str(value)
    if TEXT_KEY in value:  # a text within a text ("further: …")
        return Said(str(value[TEXT_KEY]), dict(value.get(PARAMS) or {})).render(lang, names)
    if "person" in value:
        ref = str(value["person"])
        return names.get(ref) or str(value.get("name") or ref)
    if "language" in value:
        return _word(lang, f"language.{value['language']}", str(value["language"]))
    if "term" in value:
        return _word(lang, str(value["term"]), str(value["term"]).rsplit(".", 1)[-1])
    return str(value)


def _word(lang: str | None, key: str, otherwise: str) -> str:
    try:
        return t(lang, key)
    except KeyError:  # a value added since (an unknown language code): shown as stored
        return otherwise
