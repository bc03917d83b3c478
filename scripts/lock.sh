#!/usr/bin/env bash
# Regenerate requirements.lock, the hashed pins the Dockerfile installs (`pip install --require-hashes`).
# Run after changing [project].dependencies; tests/ops/test_dockerfile.py fails until the lock agrees.
# --universal: one lock for amd64 and arm64 hosts; scripts/lock-constraints.txt holds the MQTT pins.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" -m uv pip compile pyproject.toml \
  --universal --python-version 3.11 --generate-hashes \
  --constraint scripts/lock-constraints.txt \
  --custom-compile-command scripts/lock.sh \
  --output-file requirements.lock "$@"
