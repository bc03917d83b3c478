"""Write (or with --check, verify) README.md's configuration reference from the Settings model."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from alert_gateway.settings.reference import reference_table

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = re.compile(r"(<!-- BEGIN SETTINGS -->\n).*?(<!-- END SETTINGS -->)", re.S)


def rendered(text: str) -> str:
    """README text with the generated section replaced."""
    return SECTION.sub(lambda m: m.group(1) + reference_table() + "\n" + m.group(2), text)


def main() -> int:
    """Write the section, or exit 1 when --check finds it stale."""
    text = README.read_text(encoding="utf-8")
    new = rendered(text)
    if "--check" in sys.argv:
        return 0 if new == text else 1
    README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
