"""What the dashboards share: the config, variables, log and trace links, panel helpers.

Every metric and label name comes from :mod:`telemetry.catalog` through
:mod:`telemetry.promql`; every threshold and the identity labels come from the
:class:`~telemetry.rules.config.RulesConfig` the alert rules are generated from, so a line on a
panel is the alert's threshold for any config. The only literals are label *values* checked
against the catalog's closed sets and HTTP status-code patterns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from telemetry import catalog as c
from telemetry.dashboards._grafana import Board, Query, Row, Variable, explore_url
from telemetry.dashboards._promql import Matcher, Scope, label, value

if TYPE_CHECKING:
    from telemetry.rules.config import RulesConfig

__all__ = [
    "HTTP",
    "QUANTILES",
    "ROUTE",
    "STATE_COLOURS",
    "STATUS",
    "TABLE",
    "TOP",
    "Context",
    "component_var",
    "latency_queries",
    "legend_of",
    "loki",
    "make_board",
    "match_var",
    "object_links",
    "outcome_is",
    "outcomes_in",
    "tempo",
    "top",
]

STATE_COLOURS: Final = {"closed": "green", "half_open": "yellow", "open": "red"}
QUANTILES: Final = (0.5, 0.95, 0.99)
# series a per-instance panel shows at most: 20 instances stay readable as the 10 worst
TOP: Final = 10

HTTP: Final = c.HTTP_SERVER_REQUEST_DURATION
ROUTE: Final = label(HTTP, "http.route")
STATUS: Final = label(HTTP, "http.response.status_code")
TABLE: Final = label(c.OUTBOX_OLDEST_PENDING_AGE, "outbox.table")


@dataclass(frozen=True, slots=True)
class Context:
    """The config a dashboard set is generated for, and the query scope derived from it."""

    cfg: RulesConfig
    q: Scope

    @classmethod
    def of(cls, cfg: RulesConfig) -> Context:
        return cls(cfg, Scope.of(cfg))

    @property
    def service(self) -> str:
        """The identity label naming a service (``RulesConfig.service_label``), also the name
        of the dashboard variable selecting services."""
        return self.q.service


def component_var(  # noqa: PLR0917 - reads as the variable's declaration: name, title, where from
    ctx: Context, name: str, title: str, spec: c.MetricSpec, lab: c.Label, what: str = ""
) -> Variable:
    return Variable(
        name=name,
        title=title,
        metric=spec.prom,
        label=lab.prom,
        description=what or f"{title} names, from `{spec.prom}`.",
        scope=ctx.cfg.selector,
    )


def match_var(lab: c.Label, variable: Variable) -> Matcher:
    return Matcher(lab, "=~", f"${variable.name}")


# --- links to logs and traces -------------------------------------------------------------------
def loki(expr: str) -> str:
    return explore_url(
        "${loki_datasource}", {"refId": "A", "datasource": {"type": "loki", "uid": "${loki_datasource}"}, "expr": expr}
    )


def tempo(query: str) -> str:
    return explore_url(
        "${tempo_datasource}",
        {
            "refId": "A",
            "datasource": {"type": "tempo", "uid": "${tempo_datasource}"},
            "queryType": "traceql",
            "query": query,
        },
    )


def _links(ctx: Context) -> tuple[tuple[str, str], ...]:
    svc = f"${ctx.service}"
    return (
        ("Logs by correlation ID", loki(f'{{service_name=~"{svc}"}} | json | correlation_id="$correlation_id"')),
        ("Logs by trace ID", loki(f'{{service_name=~"{svc}"}} | json | trace_id="$trace_id"')),
        ("Trace by ID", tempo("$trace_id")),
        ("Error traces", tempo(f'{{resource.service.name=~"{svc}" && status=error}}')),
    )


def series_links(ctx: Context, *, slow: float | None = None) -> tuple[tuple[str, str], ...]:
    """Data links from one series of a per-service panel: its service's error (or slow) traces
    and its error logs, over the time range on screen."""
    svc = f"${{__field.labels.{ctx.service}}}"
    traces = f'{{ resource.service.name = "{svc}" && ' + (f"duration > {slow:g}s }}" if slow else "status = error }")
    return (
        ("Slow traces of this service" if slow else "Error traces of this service", tempo(traces)),
        ("Error logs of this service", loki(f'{{service_name="{svc}"}} | json | level=~"error|warning"')),
    )


def object_links(ctx: Context, lab: c.Label) -> tuple[tuple[str, str], ...]:
    """Data links from one series of a per-object panel (a dependency, breaker, pool...): the
    error traces of that object, searched on the same attribute as its alert's trace link (so
    the test of the alert links on real spans covers these too), and the service's error logs."""
    from telemetry.rules.families import families

    attributes = {
        label: attribute
        for family in families(ctx.cfg)
        for alert in family.alerts
        for attribute, label in alert.trace_filters
    }
    svc = f"${{__field.labels.{ctx.service}}}"
    query = (
        f'{{ resource.service.name = "{svc}" && {attributes[lab.prom]} = "${{__field.labels.{lab.prom}}}" '
        "&& status = error }"
    )
    return (
        (f"Error traces of this {lab.name}", tempo(query)),
        ("Error logs of this service", loki(f'{{service_name="{svc}"}} | json | level=~"error|warning"')),
    )


def make_board(
    ctx: Context, uid: str, title: str, description: str, rows: tuple[Row, ...], *components: Variable
) -> Board:
    svc = ctx.service
    service_var = Variable(
        name=svc,
        title=svc.title(),  # the linter's label for the job variable ("Job")
        metric=c.TELEMETRY_INFO.prom,
        label=svc,
        description=f"Services reporting resilience telemetry (the `{svc}` target label).",
        identity=True,
        scope=ctx.cfg.selector,
    )
    instance_var = Variable(
        name=ctx.q.instance,
        title=ctx.q.instance.title(),
        metric=c.TELEMETRY_INFO.prom,
        label=ctx.q.instance,
        description="Instances (scrape targets) of the selected services.",
        identity=True,
        scope=ctx.cfg.selector,
    )
    return Board(
        uid=f"{ctx.cfg.dashboard_uid_prefix}{uid}",
        title=title,
        description=description,
        rows=rows,
        variables=(service_var, instance_var, *components),
        links=_links(ctx),
        service_label=svc,
    )


def latency_queries(
    ctx: Context, spec: c.MetricSpec, *matchers: Matcher, group: tuple[c.Label | str, ...] = ()
) -> tuple[Query, ...]:
    """p50/p95/p99 with exemplars: a dot on the chart opens the trace behind it."""
    legend = legend_of(*group)
    return tuple(
        Query(ctx.q.quantile(q, spec, *matchers, group=group), f"p{round(q * 100)} {legend}".strip(), exemplar=True)
        for q in QUANTILES
    )


def top(expr: str, n: int = TOP) -> str:
    """The ``n`` largest series of ``expr``: a legend and a tooltip that stay readable at 20
    instances; the panels say so in their description."""
    return f"topk({n}, {expr})"


def outcome_is(spec: c.MetricSpec, wanted: str, op: str = "=") -> Matcher:
    lab = label(spec, "outcome")
    return Matcher(lab, op, value(lab, wanted))


def outcomes_in(spec: c.MetricSpec, wanted: tuple[str, ...]) -> Matcher:
    """``outcome=~"a|b"``, each value checked against the catalog's closed set."""
    lab = label(spec, "outcome")
    return Matcher(lab, "=~", "|".join(value(lab, item) for item in wanted))


def legend_of(*labels: c.Label | str) -> str:
    return " ".join(f"{{{{{item if isinstance(item, str) else item.prom}}}}}" for item in labels)
