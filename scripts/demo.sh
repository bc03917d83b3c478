#!/usr/bin/env bash
# Set up and run the demo: gateway, simulated homes, fake Twilio and the console. README's first command.
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_APT="${SKIP_APT:-1}" scripts/setup.sh   # the demo needs no system packages but a font:
# without a Japanese font every Japanese character of the console is a box
if command -v fc-list >/dev/null && [ -z "$(fc-list :lang=ja family 2>/dev/null)" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ "${SKIP_FONT:-0}" != 1 ]; then
    echo "demo: 日本語フォントを入れます / installing a Japanese font (fonts-ipafont-gothic)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends fonts-ipafont-gothic >/dev/null ||
      echo "demo: フォントを入れられませんでした / could not install it: apt-get install fonts-ipafont-gothic" >&2
  else
    echo "demo: 日本語フォントがありません。文字が□になります / no Japanese font, Japanese shows as boxes:" >&2
    echo "      sudo apt-get install fonts-ipafont-gothic" >&2
  fi
fi
exec .venv/bin/alert-gateway demo "$@"
