"""What a typical service exports, measured: the series count docs/metrics.md states, no `*_created`
series unless asked for, and the one warning `promtool check metrics` gives (the README explains it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from telemetry import metric_table
from telemetry.testing import require_service

ROOT = Path(__file__).resolve().parents[2]
SERVICE = Path(__file__).with_name("typical_service.py")


def families_and_series(text: str) -> tuple[int, int]:
    """(metric families with at least one sample, samples) of a text exposition."""
    lines = text.splitlines()
    samples = [line for line in lines if line and not line.startswith("#")]
    names = {line.split()[2] for line in lines if line.startswith("# TYPE ")}
    sampled = {name for name in names if any(re.match(rf"{re.escape(name)}(_[a-z]+)?[{{ ]", line) for line in samples)}
    return len(sampled), len(samples)


@pytest.fixture(scope="module")
def exposition(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The typical service's /metrics, by default and with PROMETHEUS_DISABLE_CREATED_SERIES=false."""
    where = tmp_path_factory.mktemp("typical")
    found = {}
    for name, extra_env in (("default", {}), ("created", {"PROMETHEUS_DISABLE_CREATED_SERIES": "false"})):
        out = where / f"{name}.txt"
        env = {**os.environ, "PYTHONPATH": str(ROOT), **extra_env}
        run = subprocess.run(
            [sys.executable, str(SERVICE), str(out)], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert run.returncode == 0, run.stderr
        found[name] = out.read_text(encoding="utf-8")
    return found


def test_the_metric_table_states_the_measured_series_count(exposition: dict[str, str]) -> None:
    """docs/metrics.md's numbers are what the typical service exports, with and without *_created."""
    assert families_and_series(exposition["default"]) == (metric_table.TYPICAL_FAMILIES, metric_table.TYPICAL_SERIES)
    assert families_and_series(exposition["created"]) == (
        metric_table.TYPICAL_FAMILIES_WITH_CREATED,
        metric_table.TYPICAL_SERIES_WITH_CREATED,
    )
    table = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert f"**{metric_table.TYPICAL_SERIES} series in {metric_table.TYPICAL_FAMILIES} metric families**" in table
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"({metric_table.TYPICAL_SERIES} for five routes" in readme


def test_no_created_series_by_default_and_the_switch_brings_them_back(exposition: dict[str, str]) -> None:
    """Set-up switches prometheus-client's *_created series off; PROMETHEUS_DISABLE_CREATED_SERIES=false keeps them."""
    assert [line for line in exposition["default"].splitlines() if "_created" in line] == []
    created = {line.split()[2] for line in exposition["created"].splitlines() if line.startswith("# TYPE ")}
    assert "resilience_retry_calls_created" in created
    assert "http_server_request_duration_seconds_created" in created


def test_promtool_check_metrics_warns_only_on_the_semconv_pool_count(exposition: dict[str, str]) -> None:
    """promtool's linter exits 3 with exactly one warning, on db_client_connection_count (the OpenTelemetry
    name `db.client.connection.count`, kept verbatim); the README's metrics section names it."""
    promtool = shutil.which("promtool")
    require_service(promtool is not None, "promtool (scripts/install-tools.sh)")
    assert promtool is not None
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=exposition["default"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    warnings = (result.stdout + result.stderr).strip().splitlines()
    assert warnings == [
        'db_client_connection_count non-histogram and non-summary metrics should not have "_count" suffix'
    ]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "promtool check metrics" in readme
    assert "db_client_connection_count" in readme
