"""Grafana dashboards generated from the metric catalog (``make generate`` writes ``dashboards/``).

Usage::

    from telemetry import dashboards

    files = dashboards.generate()  # {Path("dashboards/overview.json"): "<json>", ...}
    exprs = dashboards.expressions()  # every PromQL expression of every panel

Each dashboard is one module (``overview``, ``breakers``, ``retries``, ``pools``, ``queues``,
``dependencies``, ``toolbox``) with a ``board()`` function; :mod:`telemetry.dashboards._grafana`
renders them through grafanalib into clean JSON for Grafana 10 to 12. Rendering needs the
``dashboards`` extra (grafanalib); reading expressions does not.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Final

from telemetry.dashboards import breakers, dependencies, overview, pools, queues, retries, toolbox
from telemetry.dashboards._grafana import Board, render

__all__ = ["BOARDS", "DIRECTORY", "boards", "dashboards", "expressions", "generate", "substitute"]

DIRECTORY: Final = Path("dashboards")
_PREFIX: Final = "rt-"
# navigation order
BOARDS: Final = (overview, breakers, retries, pools, queues, dependencies, toolbox)


def boards() -> list[Board]:
    """The dashboard descriptions, in navigation order."""
    return [module.board() for module in BOARDS]


def dashboards() -> dict[str, dict[str, Any]]:
    """Each dashboard's JSON model, keyed by its fixed uid."""
    return {board.uid: render(board) for board in boards()}


def expressions() -> list[str]:
    """Every PromQL expression of every panel, once each, in dashboard order."""
    seen: dict[str, None] = {}
    for board in boards():
        for row in board.rows:
            for panel in row.panels:
                for query in panel.queries:
                    seen.setdefault(query.expr, None)
    return list(seen)


def generate() -> dict[Path, str]:
    """``dashboards/<name>.json`` for every dashboard (the uid without its ``rt-`` prefix)."""
    return {
        DIRECTORY / f"{uid.removeprefix(_PREFIX)}.json": json.dumps(model, indent=2, sort_keys=True, ensure_ascii=False)
        + "\n"
        for uid, model in dashboards().items()
    }


_VARIABLE: Final = re.compile(r"\$(\w+)")


def substitute(expr: str, rate_interval: str = "5m", **values: str) -> str:
    """An expression as Grafana would send it: ``$__rate_interval`` and variables replaced
    (variables default to ``.*``, Grafana's "All" for these dashboards). Useful to run the
    panels' queries against Prometheus directly, as the drill and the tests do."""
    return _VARIABLE.sub(
        lambda m: rate_interval if m.group(1) == "__rate_interval" else values.get(m.group(1), ".*"), expr
    )
