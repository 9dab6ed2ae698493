"""Shared fixtures: each test starts from a fresh process state (one ``state.reset()``).

``require``, ``port_open`` and ``CI`` are re-exported from :mod:`telemetry.testing` for test
files that still import them from here; new code imports ``telemetry.testing`` directly.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from telemetry import state
from telemetry.testing import ci, port_open
from telemetry.testing import require_service as require

__all__ = ["CI", "port_open", "require"]

CI = ci()


@pytest.fixture(autouse=True)
def _fresh_state() -> Iterator[None]:
    state.reset()
    yield
    state.reset()
