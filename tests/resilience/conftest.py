"""Fixtures for the retry, breaker, health and fallback tests: fresh stamina hooks per test.

Handles and degraded flags are forgotten by the suite's autouse ``telemetry.state.reset()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _fresh_resilience_state() -> Iterator[None]:
    """stamina keeps its hooks process-wide; tests that do not use stamina run without it."""
    try:
        import stamina
    except ImportError:
        yield
        return
    from stamina.instrumentation import set_on_retry_hooks

    set_on_retry_hooks([])
    with stamina.set_testing(False):
        yield
    set_on_retry_hooks([])


@pytest.fixture
def raising_sink() -> Any:
    """A sink that fails on every event, counted as the log sink, for ``capture(extra_sinks=[...])``."""
    from telemetry.testing import RaisingSink

    return RaisingSink("log")
