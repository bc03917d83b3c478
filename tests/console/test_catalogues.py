"""Console texts: both languages have the same keys and every key a template uses exists."""

from __future__ import annotations

import re

from alert_gateway.console.render import TEMPLATES_DIR
from alert_gateway.i18n import LANGUAGES, Translator, catalogue

_KEY = re.compile(r"""_\(\s*["']([a-z0-9_.]+)["']""")


def test_languages_have_the_same_keys() -> None:
    """No text is missing in one language."""
    ja, en = catalogue("ja"), catalogue("en")
    assert set(ja) - set(en) == set() and set(en) - set(ja) == set()


def test_every_template_key_exists() -> None:
    """A typo in a template key would show the raw key to an operator."""
    keys = set(catalogue("ja"))
    found = {m for path in TEMPLATES_DIR.glob("*.html") for m in _KEY.findall(path.read_text())}
    used = {key for key in found if not key.endswith(".")}  # "resident." ~ name: built keys
    assert used and used - keys == set()


def test_enum_labels_exist() -> None:
    """Every outcome, alarm type and timeline kind has a label in both languages."""
    from alert_gateway.db.alerts import EventKind, Outcome
    from devices.contract import AlarmType

    for lang in LANGUAGES:
        texts = catalogue(lang)
        for prefix, values in (("outcome", Outcome), ("type", AlarmType), ("event", EventKind)):
            missing = [v.value for v in values if f"{prefix}.{v.value}" not in texts]
            assert not missing, (lang, prefix, missing)
    assert Translator("fr").lang == "ja"
