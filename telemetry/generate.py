"""Generated artefacts (metric table, alert rules, dashboards): one entry point for
``make generate``, the ``--check`` mode and the freshness tests."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

__all__ = ["GENERATORS", "check", "generate_all", "write"]

# name -> module with ``generate() -> dict[Path, str]`` (paths relative to the repo root)
GENERATORS: Final = {
    "metric-table": "telemetry.metric_table",
    "dashboards": "telemetry.dashboards",
    "alerts": "telemetry.rules",
}
# the dashboards read the alerts' RulesConfig: one config moves a rule and its panel line together
_SECTION: Final = {"dashboards": "alerts"}


def generate_all(names: list[str] | None = None, config: Mapping[str, Any] | None = None) -> dict[Path, str]:
    """Run the generators; ``config`` maps a generator name to the options its ``generate`` takes."""
    files: dict[Path, str] = {}
    for name in names or list(GENERATORS):
        module = importlib.import_module(GENERATORS[name])
        section = (config or {}).get(_SECTION.get(name, name))
        files.update(module.generate() if section is None else module.generate(section))
    return files


def write(root: Path, files: dict[Path, str]) -> list[Path]:
    written = []
    for relative, content in sorted(files.items()):
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text(encoding="utf-8") != content:
            target.write_text(content, encoding="utf-8")
            written.append(relative)
    return written


def check(root: Path, files: dict[Path, str]) -> list[Path]:
    """Paths whose committed content differs from a fresh generation."""
    return [
        relative
        for relative, content in sorted(files.items())
        if not (root / relative).exists() or (root / relative).read_text(encoding="utf-8") != content
    ]
