"""Shared fixtures: each test starts from a fresh process state (one ``state.reset()``).

``require``, ``port_open`` and ``CI`` are re-exported from :mod:`telemetry.testing` for test
files that still import them from here; new code imports ``telemetry.testing`` directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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


@pytest.fixture(autouse=True)
def _fresh_stamina_hooks() -> Iterator[None]:
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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under CI=true a skipped test is a failure: nothing that needs a service, tool or optional
    library may silently drop out of the run (an ``importorskip`` included)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true: {report.longrepr}"
