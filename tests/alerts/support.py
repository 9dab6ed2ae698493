"""Helpers for the alert-bundle tests: the repository's alerts/ and the Debian tools."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "alerts"
RULE_FILES = sorted(ALERTS.glob("*.rules.yml"))
TEST_FILES = sorted((ALERTS / "tests").glob("*.test.yml"))


def tool(*names: str) -> str:
    """The path of the first of ``names`` on PATH (Debian-packaged tools, installed by
    scripts/install-tools.sh); skips locally, fails under CI=true when none is there."""
    path = next((found for found in map(shutil.which, names) if found is not None), None)
    require(path is not None, f"{' or '.join(names)} (scripts/install-tools.sh)")
    assert path is not None
    return path


def run(*args: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a tool; the SLO unit tests evaluate 3d windows over 10h of samples, so allow minutes."""
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alert_rules() -> list[dict]:
    return [rule for path in RULE_FILES for group in load(path)["groups"] for rule in group["rules"] if "alert" in rule]


def record_rules() -> dict[str, str]:
    return {
        rule["record"]: rule["expr"]
        for path in RULE_FILES
        for group in load(path)["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def alert_checks() -> list[dict]:
    return [check for path in TEST_FILES for test in load(path)["tests"] for check in test["alert_rule_test"]]
