"""Committed generated files equal a fresh generation."""

from __future__ import annotations

from pathlib import Path

from telemetry import catalog
from telemetry.__main__ import main
from telemetry.generate import check, generate_all

ROOT = Path(__file__).resolve().parent.parent


def test_committed_files_are_fresh() -> None:
    """`make generate` has been run: every generated file matches the catalog and config."""
    assert check(ROOT, generate_all()) == []


def test_metric_table_lists_every_metric() -> None:
    """The docs table has one row per catalog metric with its exact Prometheus name."""
    table = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) == len(catalog.CATALOG)
    for spec in catalog.CATALOG:
        assert f"| `{spec.prom}` | `{spec.name}` |" in table


def test_cli_check_flags_stale_file(tmp_path: Path) -> None:
    """The CLI writes files, then --check passes, and fails once a file is edited."""
    assert main(["generate", "--root", str(tmp_path), "--only", "metric-table"]) == 0
    assert main(["generate", "--root", str(tmp_path), "--only", "metric-table", "--check"]) == 0
    target = tmp_path / "docs" / "metrics.md"
    target.write_text(target.read_text(encoding="utf-8") + "edited\n", encoding="utf-8")
    assert main(["generate", "--root", str(tmp_path), "--only", "metric-table", "--check"]) == 1
