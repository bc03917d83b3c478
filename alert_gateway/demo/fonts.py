"""Is there a Japanese font? Without one, every Japanese character of the console is a box."""

from __future__ import annotations

import shutil
import subprocess

FONT_PACKAGE = "fonts-ipafont-gothic"  # Debian/Ubuntu; the one scripts/setup.sh installs
FC_LIST_SECONDS = 10.0


def japanese_font_missing() -> bool:
    """True when fontconfig is there and knows no font for Japanese (macOS and Windows ship one;
    a machine without fontconfig has no local desktop browser to worry about)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    try:
        found = subprocess.run([fc_list, ":lang=ja", "family"], capture_output=True, text=True,
                               timeout=FC_LIST_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return not found.stdout.strip()


def font_advice() -> str:
    """What to run, in Japanese then English."""
    return (f"日本語フォントがありません。文字が□になります: sudo apt-get install {FONT_PACKAGE}\n"
            f"  no Japanese font: Japanese text shows as boxes: sudo apt-get install {FONT_PACKAGE}")
