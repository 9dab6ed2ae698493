"""Fixtures for the retry, breaker, health and fallback tests: fresh stamina hooks per test.

Handles and degraded flags are forgotten by the suite's autouse ``telemetry.state.reset()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _fresh_resilience_state() -> Iterator[None]:
    stamina = pytest.importorskip("stamina")
    from stamina.instrumentation import set_on_retry_hooks

    set_on_retry_hooks([])
    with stamina.set_testing(False):
        yield
    set_on_retry_hooks([])


class SinkBroke(RuntimeError):
    """Raised by the failing sink."""


@pytest.fixture
def raising_sink() -> Any:
    """A sink that fails on every event, for ``capture(extra_sinks=[raising_sink])``."""

    def sink(_event: Any) -> None:
        raise SinkBroke

    sink.sink_name = "log"  # type: ignore[attr-defined]
    return sink
