"""What an alert family is made of: recording rules, alerting rules and runbook sections.

A family is one ``telemetry/rules/families/<name>.py`` module (its rules), one ``<name>.md``
template next to it (its runbook prose) and one hand-written ``alerts/tests/<name>.test.yml``
(its promtool expectations). It becomes one ``alerts/<name>.rules.yml`` and one group of
sections of ``alerts/runbooks.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from telemetry import catalog as c
    from telemetry.promql import Builder
    from telemetry.rules.config import RulesConfig

__all__ = [
    "COUNT_VALUE",
    "AlertRule",
    "Family",
    "Record",
    "Runbook",
    "event",
    "load_runbooks",
    "ratio_records",
    "span",
]

_TEMPLATES: Final = "telemetry.rules.families"
# An alert value that is a count, as a whole number: increase() extrapolates (3.036 timeouts).
COUNT_VALUE: Final = '{{ printf "%.0f" $value }}'
_PARTS: Final = {
    "What it means": "meaning",
    "Confirm on the dashboard": "confirm",
    "Likely causes": "causes",
    "Mitigation": "mitigation",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    record: str
    expr: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRule:
    """One alerting rule. ``trace_filters`` are (TraceQL attribute, alert label) pairs for the
    prefilled trace search; ``trace_errors`` adds ``status = error`` to it, ``trace_slower_than``
    ``duration > <seconds>s`` (a latency alert looks for slow spans, not failed ones); ``dashboard_vars``
    are (dashboard variable, alert label) pairs set in the dashboard link besides the service."""

    name: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str
    trace_filters: tuple[tuple[str, str], ...] = ()
    trace_errors: bool = True
    trace_slower_than: float | None = None
    dashboard_vars: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Runbook:
    """A runbook section: what it means, how to confirm, likely causes, mitigation."""

    alert: str
    meaning: str
    confirm: str
    causes: tuple[str, ...]
    mitigation: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Family:
    """One rule file; ``dashboard`` names the Grafana dashboard its alerts link to."""

    name: str
    title: str
    dashboard: str
    records: tuple[Record, ...]
    alerts: tuple[AlertRule, ...]
    runbooks: tuple[Runbook, ...]


def span(label: c.Label) -> tuple[str, str]:
    """A trace filter on the span attribute carrying the same name as the catalog label."""
    return (f"span.{label.name}", label.prom)


def event(label: c.Label) -> tuple[str, str]:
    """A trace filter on a span-event attribute (TraceQL's ``event.`` scope): for objects the
    package names only on the events it adds (a dependency call, a pool wait, a retry)."""
    return (f"event.{label.name}", label.prom)


def ratio_records(
    q: Builder,
    cfg: RulesConfig,
    spec: c.MetricSpec,
    label: c.Label,
    failures: tuple[str, ...],
) -> tuple[Record, Record]:
    """Rate and failure-ratio recording rules of ``spec`` by service and ``label``: the pair
    every "ratio above a threshold, with a traffic guard" alert reads."""
    window = cfg.rate_window
    level = q.level(spec, label.prom)
    by = q.by(spec, label.prom)
    rate = Record(record=f"{level}:{q.metric(spec)}:rate{window}", expr=f"sum {by} (rate({q.series(spec)}[{window}]))")
    ratio = Record(
        record=f"{level}:{q.metric(spec, 'failed')}:ratio_rate{window}",
        expr=(
            f"sum {by} (rate({q.series(spec, outcome=failures)}[{window}]))\n"
            f"/\nsum {by} (rate({q.series(spec)}[{window}]))"
        ),
    )
    return rate, ratio


def load_runbooks(family: str, cfg: RulesConfig, **values: str) -> tuple[Runbook, ...]:
    """The runbook sections of ``families/<family>.md``, with ``{cfg.<field>}`` and ``{<value>}``
    placeholders filled in.

    The template has one ``## <Alert>`` section per alert, each with the four ``###`` parts of
    :class:`Runbook`; prose may wrap (lines are joined with a space), list items start with
    ``- ``. Reviewers edit the prose as Markdown, never as Python string literals.
    """
    text = resources.files(_TEMPLATES).joinpath(f"{family}.md").read_text(encoding="utf-8")
    books = []
    for section in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
        alert, _, body = section.partition("\n")
        parts: dict[str, list[str]] = {}
        for part in re.split(r"^### ", body, flags=re.MULTILINE)[1:]:
            heading, _, content = part.partition("\n")
            parts[_PARTS[heading.strip()]] = _items(content.format(cfg=cfg, **values))
        books.append(
            Runbook(
                alert=alert.strip(),
                meaning=" ".join(parts["meaning"]),
                confirm=" ".join(parts["confirm"]),
                causes=tuple(parts["causes"]),
                mitigation=tuple(parts["mitigation"]),
            )
        )
    return tuple(books)


def _items(content: str) -> list[str]:
    """List items (``- `` lines and their continuation lines), or the paragraph's lines."""
    items: list[str] = []
    for raw in content.strip().splitlines():
        line = raw.strip()
        if line.startswith("- "):
            items.append(line[2:])
        elif items and raw.startswith("  "):
            items[-1] += f" {line}"
        elif line:
            items.append(line)
    return items
