#!/usr/bin/env bash
# Set up and run the whole test suite (real Mosquitto, PostgreSQL, Chromium). README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/services.sh
.venv/bin/python -m pytest "$@"
