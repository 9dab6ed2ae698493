"""Shared fixtures: each test starts from a fresh process state (one ``state.reset()``).

``require``, ``port_open`` and ``CI`` are re-exported from :mod:`telemetry.testing` for test
files that still import them from here; new code imports ``telemetry.testing`` directly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from telemetry import state
from telemetry.testing import ci, port_open
from telemetry.testing import require_service as require

__all__ = ["CI", "port_open", "require"]

CI = ci()


def pytest_configure(config: pytest.Config) -> None:
    """The HTTP semconv mode ``setup()`` selects, for the whole session: OpenTelemetry's
    instrumentations read ``OTEL_SEMCONV_STABILITY_OPT_IN`` once per process, so otherwise the
    first test that instruments anything would decide the span names for all the others."""
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")


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


def json_from_fresh_process(script: str, env: dict[str, str], timeout: float = 120) -> Any:
    """Run ``script`` in a fresh interpreter at the repository root with only ``env`` (and a
    plain ``PATH``): no provider, resource or variable left by an earlier test. Returns the
    JSON of its last output line."""
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parent.parent,
        env={"PATH": "/usr/bin:/bin", **env},
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])
