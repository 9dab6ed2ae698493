"""Fixtures for the dashboard tests: the rendered dashboards and Grafana's JSON schemas."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import pytest
from dashboard_support import SCHEMA_DIR

from telemetry import dashboards
from tests.conftest import require


@pytest.fixture(scope="session")
def models() -> dict[str, dict[str, Any]]:
    """Every dashboard's JSON model, keyed by uid (rendered once per session)."""
    require(importlib.util.find_spec("grafanalib") is not None, "grafanalib (the dashboards extra)")
    return dashboards.dashboards()


@pytest.fixture(scope="session")
def schemas() -> dict[str, dict[str, Any]]:
    """Grafana's JSON schemas by file stem (``dashboard``, ``timeseries``, ``prometheus``, ...)."""
    require(SCHEMA_DIR.is_dir(), f"Grafana JSON schemas in {SCHEMA_DIR}")
    return {path.name.split(".")[0]: json.loads(path.read_text()) for path in SCHEMA_DIR.glob("*.jsonschema.json")}
