"""Grafana dashboards generated from the metric catalog (``make generate`` writes ``dashboards/``).

Usage::

    from telemetry import dashboards

    files = dashboards.generate()  # {Path("dashboards/overview.json"): "<json>", ...}
    files = dashboards.generate({"service_label": "app", "dependency_failure_ratio": 0.2})
    exprs = dashboards.expressions()  # every PromQL expression of every panel

Each dashboard is one module (``overview``, ``breakers``, ``retries``, ``pools``, ``queues``,
``dependencies``, ``toolbox``) with a ``board(cfg)`` function; :mod:`telemetry.dashboards._grafana`
renders them through grafanalib into clean JSON for Grafana 10 to 12. Rendering needs the
``dashboards`` extra (grafanalib); reading expressions does not.

The dashboards read the same :class:`~telemetry.rules.config.RulesConfig` as the alert rules
(``python -m telemetry generate --config`` passes its ``alerts`` section to both): the service
label and selector scope every query and name the service variable, and every threshold line
is the alert's own threshold, so a custom config moves the alert and the line together.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from telemetry.dashboards import breakers, dependencies, overview, pools, queues, retries, toolbox
from telemetry.dashboards._grafana import Board, render
from telemetry.rules.config import RulesConfig

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["BOARDS", "DIRECTORY", "boards", "dashboards", "expressions", "generate", "substitute"]

DIRECTORY: Final = Path("dashboards")
# navigation order
BOARDS: Final = (overview, breakers, retries, pools, queues, dependencies, toolbox)


def boards(config: RulesConfig | None = None) -> list[Board]:
    """The dashboard descriptions for ``config`` (the defaults), in navigation order."""
    cfg = config or RulesConfig()
    return [module.board(cfg) for module in BOARDS]


def dashboards(config: RulesConfig | None = None) -> dict[str, dict[str, Any]]:
    """Each dashboard's JSON model, keyed by its fixed uid (``dashboard_uid_prefix`` + name)."""
    return {board.uid: render(board) for board in boards(config)}


def expressions(config: RulesConfig | None = None) -> list[str]:
    """Every PromQL expression of every panel, once each, in dashboard order."""
    seen: dict[str, None] = {}
    for board in boards(config):
        for row in board.rows:
            for panel in row.panels:
                for query in panel.queries:
                    seen.setdefault(query.expr, None)
    return list(seen)


def generate(config: Mapping[str, Any] | None = None) -> dict[Path, str]:
    """``dashboards/<name>.json`` for every dashboard; ``config`` is a mapping of
    :class:`RulesConfig` overrides, the same the ``alerts`` generator takes."""
    cfg = RulesConfig.from_mapping(config or {})
    return {
        DIRECTORY / f"{uid.removeprefix(cfg.dashboard_uid_prefix)}.json": json.dumps(
            model, indent=2, sort_keys=True, ensure_ascii=False
        )
        + "\n"
        for uid, model in dashboards(cfg).items()
    }


_VARIABLE: Final = re.compile(r"\$(\w+)")


def substitute(expr: str, rate_interval: str = "5m", **values: str) -> str:
    """An expression as Grafana would send it: ``$__rate_interval`` and variables replaced
    (variables default to ``.*``, Grafana's "All" for these dashboards). Useful to run the
    panels' queries against Prometheus directly, as the drill and the tests do."""
    return _VARIABLE.sub(
        lambda m: rate_interval if m.group(1) == "__rate_interval" else values.get(m.group(1), ".*"), expr
    )
