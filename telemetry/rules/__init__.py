"""Prometheus alert and recording rules, Alertmanager routing and runbooks, generated from
the metric catalog and one typed config.

Usage::

    python -m telemetry generate --only alerts                      # the defaults, into alerts/
    python -m telemetry generate --only alerts --config ops.yml     # {"alerts": {...overrides}}

    from telemetry.rules import RulesConfig, generate
    files = generate({"breaker_not_closed_for": "10m", "selector": 'job="api"'})

The promtool unit tests (``alerts/tests/<family>.test.yml``) are not generated: they are
hand-maintained, with every expected label and annotation written out literally, so a bug in
the rendering code fails them instead of being copied into them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from telemetry.rules.config import RulesConfig, SloWindow, duration_seconds
from telemetry.rules.families import families
from telemetry.rules.render import alertmanager, rule_file, runbooks

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["RulesConfig", "SloWindow", "duration_seconds", "expressions", "generate", "render"]

ALERTS_DIR = Path("alerts")


def render(config: RulesConfig) -> dict[Path, str]:
    """Rule files, ``alertmanager.yml`` and ``runbooks.md`` for ``config``."""
    parts = families(config)
    files = {ALERTS_DIR / f"{family.name}.rules.yml": rule_file(config, family) for family in parts}
    files[ALERTS_DIR / "alertmanager.yml"] = alertmanager(config)
    files[ALERTS_DIR / "runbooks.md"] = runbooks(config, parts)
    return files


def generate(config: Mapping[str, Any] | None = None) -> dict[Path, str]:
    """The ``alerts`` generator: ``config`` is a mapping of :class:`RulesConfig` overrides."""
    return render(RulesConfig.from_mapping(config or {}))


def expressions(config: RulesConfig | None = None) -> list[str]:
    """Every PromQL expression (recording and alerting) of the rules for ``config``."""
    exprs: list[str] = []
    for family in families(config or RulesConfig()):
        exprs += [record.expr for record in family.records]
        exprs += [alert.expr for alert in family.alerts]
    return exprs
