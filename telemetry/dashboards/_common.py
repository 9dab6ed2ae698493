"""What the six dashboards share: variables, log and trace links, panel helpers, thresholds.

Every metric and label name comes from :mod:`telemetry.catalog` through
:mod:`telemetry.promql`; the only literals are label *values* checked against the
catalog's closed sets, HTTP status-code patterns, and the target labels ``service`` and
``instance`` that the Prometheus scrape configuration attaches.
"""

from __future__ import annotations

from typing import Final

from telemetry import catalog as c
from telemetry.dashboards._grafana import Board, Query, Row, Variable, explore_url
from telemetry.dashboards._promql import (
    INSTANCE,
    SERVICE,
    Matcher,
    label,
    quantile,
    value,
)

__all__ = [
    "BREAKER_FAILURE_RATIO_THRESHOLD",
    "DEPENDENCY_FAILURE_RATIO_THRESHOLD",
    "HEALTH_FAILURE_RATIO_THRESHOLD",
    "HTTP",
    "LINKS",
    "POOL_SATURATION_THRESHOLD",
    "QUANTILES",
    "ROUTE",
    "STATE_COLOURS",
    "STATUS",
    "TABLE",
    "component_var",
    "latency_queries",
    "legend_of",
    "loki",
    "make_board",
    "match_var",
    "outcome_is",
    "tempo",
]

# Thresholds drawn on panels (the alert rules own the alerting thresholds).
BREAKER_FAILURE_RATIO_THRESHOLD: Final = 0.5
DEPENDENCY_FAILURE_RATIO_THRESHOLD: Final = 0.3
HEALTH_FAILURE_RATIO_THRESHOLD: Final = 0.5
POOL_SATURATION_THRESHOLD: Final = 0.9
STATE_COLOURS: Final = {"closed": "green", "half_open": "yellow", "open": "red"}
QUANTILES: Final = (0.5, 0.95, 0.99)

HTTP: Final = c.HTTP_SERVER_REQUEST_DURATION
ROUTE: Final = label(HTTP, "http.route")
STATUS: Final = label(HTTP, "http.response.status_code")
TABLE: Final = label(c.OUTBOX_OLDEST_PENDING_AGE, "outbox.table")

# --- variables ------------------------------------------------------------------------------
_SERVICE_VAR: Final = Variable(
    name=SERVICE,
    title="Service",
    metric=c.TELEMETRY_INFO.prom,
    label=SERVICE,
    description="Services reporting resilience telemetry (the `service` scrape label).",
)
_INSTANCE_VAR: Final = Variable(
    name=INSTANCE,
    title="Instance",
    metric=c.TELEMETRY_INFO.prom,
    label=INSTANCE,
    description="Instances (scrape targets) of the selected services.",
)


def component_var(name: str, title: str, spec: c.MetricSpec, lab: c.Label) -> Variable:
    return Variable(
        name=name,
        title=title,
        metric=spec.prom,
        label=lab.prom,
        description=f"{title} names, from `{spec.prom}`.",
    )


def match_var(lab: c.Label, variable: Variable) -> Matcher:
    return Matcher(lab, "=~", f"${variable.name}")


# --- links to logs and traces -------------------------------------------------------------------
def loki(expr: str) -> str:
    return explore_url("${loki}", {"refId": "A", "datasource": {"type": "loki", "uid": "${loki}"}, "expr": expr})


def tempo(query: str) -> str:
    return explore_url(
        "${tempo}",
        {"refId": "A", "datasource": {"type": "tempo", "uid": "${tempo}"}, "queryType": "traceql", "query": query},
    )


LINKS: Final = (
    ("Logs by correlation ID", loki('{service_name=~"$service"} | json | correlation_id="$correlation_id"')),
    ("Logs by trace ID", loki('{service_name=~"$service"} | json | trace_id="$trace_id"')),
    ("Trace by ID", tempo("$trace_id")),
    ("Error traces", tempo('{resource.service.name=~"$service" && status=error}')),
)


def make_board(uid: str, title: str, description: str, rows: tuple[Row, ...], *components: Variable) -> Board:
    return Board(
        uid=uid,
        title=title,
        description=description,
        rows=rows,
        variables=(_SERVICE_VAR, _INSTANCE_VAR, *components),
        links=LINKS,
    )


def latency_queries(spec: c.MetricSpec, *matchers: Matcher, group: tuple[c.Label, ...] = ()) -> tuple[Query, ...]:
    """p50/p95/p99 with exemplars: a dot on the chart opens the trace behind it."""
    legend = legend_of(*group)
    return tuple(
        Query(quantile(q, spec, *matchers, group=group), f"p{round(q * 100)} {legend}".strip(), exemplar=True)
        for q in QUANTILES
    )


def outcome_is(spec: c.MetricSpec, wanted: str, op: str = "=") -> Matcher:
    lab = label(spec, "outcome")
    return Matcher(lab, op, value(lab, wanted))


def legend_of(*labels: c.Label | str) -> str:
    return " ".join(f"{{{{{item if isinstance(item, str) else item.prom}}}}}" for item in labels)
