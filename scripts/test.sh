#!/usr/bin/env bash
# Set up and run the whole test suite (real Mosquitto, PostgreSQL, Chromium). README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/services.sh
# Two workers on two cores: most of a test's time is spent waiting on a broker, a database, a
# browser or a child process, so two overlap well; TEST_WORKERS=0 runs everything in one process.
.venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" --dist worksteal "$@"
