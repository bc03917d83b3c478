#!/usr/bin/env bash
# Set up and run the demo: gateway, simulated homes, fake Twilio and the console. README's first command.
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_APT="${SKIP_APT:-1}" scripts/setup.sh   # the demo needs no system packages
exec .venv/bin/alert-gateway demo "$@"
