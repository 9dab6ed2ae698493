"""Helpers shared by the dashboard tests (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from telemetry.dashboards import substitute
from tests.conftest import require

__all__ = ["ROOT", "SCHEMA_DIR", "data_panels", "promtool_check", "substitute"]

ROOT = Path(__file__).resolve().parents[2]
# Grafana's dashboard and panel JSON schemas (grafana-foundation-sdk, Apache-2.0); the SDK's
# Python package ships none, so the tests read them from the shared reference directory.
SCHEMA_DIR = Path(os.environ.get("GRAFANA_SCHEMA_DIR", ROOT.parent / "shared" / "grafana-schema"))


def promtool_check(exprs: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``promtool check rules`` on a throwaway group recording each expression."""
    promtool = shutil.which("promtool")
    require(promtool is not None, "promtool")
    assert promtool is not None
    rules = [{"record": f"dashboard:expr_{i}:check", "expr": expr} for i, expr in enumerate(exprs)]
    path = tmp_path / "panels.rules.yml"
    # JSON is valid YAML, so no YAML writer is needed.
    path.write_text(json.dumps({"groups": [{"name": "dashboard-expressions", "rules": rules}]}), encoding="utf-8")
    return subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=30, check=False
    )


def data_panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    """The panels that query Prometheus."""
    return [panel for panel in model["panels"] if "targets" in panel]
