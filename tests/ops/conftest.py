"""Shared fixtures for the ops tests."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from alert_gateway.logs import configure_logging


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Everything logged during the test, as the gateway writes it (JSON, DEBUG); the root logger
    restored afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    configure_logging("debug", json=True, stream=buffer)
    try:
        yield buffer
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)
