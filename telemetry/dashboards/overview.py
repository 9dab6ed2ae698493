"""The service overview: answers "is my service healthy, and if not, which dependency?".

Top to bottom: the active alerts; one table row per service (status, request rate, error and
slow ratios against the SLO, error budget left, burn rate); one repeated row of time series per
selected service; then, per service and object, the dependency that is unhappy. Nothing is
summed across services: every query keeps the service label (``RulesConfig.service_label``).
The SLO panels read the recording rules of :mod:`telemetry.rules.families.slo` and draw the
same objective, threshold and burn factors as its alerts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemetry import catalog as c
from telemetry.dashboards._common import (
    HTTP,
    ROUTE,
    STATUS,
    TABLE,
    Context,
    legend_of,
    make_board,
    outcomes_in,
    series_links,
    top,
)
from telemetry.dashboards._grafana import Board, Panel, Query, Row
from telemetry.dashboards._promql import Matcher, label, ratio, value
from telemetry.promql import number
from telemetry.rules.config import duration_seconds

if TYPE_CHECKING:
    from telemetry.rules.config import RulesConfig

__all__ = ["board", "budget_window", "burn_steps", "recorded_errors", "recorded_slow"]

# Status column: the worst severity firing for the service.
_STATUS_MAPPINGS = ((0, "OK", "green"), (1, "warning", "orange"), (2, "critical", "red"))


def recorded_errors(cfg: RulesConfig, window: str) -> str:
    """The availability SLI's recording rule for ``window`` (5xx share of requests)."""
    return f"{cfg.service_label}:http_server_request_errors:ratio_rate{window}"


def recorded_slow(cfg: RulesConfig, window: str) -> str:
    """The latency SLI's recording rule for ``window`` (share slower than the threshold)."""
    return f"{cfg.service_label}:http_server_request_slow:ratio_rate{window}"


def budget_window(cfg: RulesConfig) -> str:
    """The shortest SLI window: averaged over the budget period it gives the budget spent."""
    return min((w for pair in cfg.slo_windows for w in (pair.long, pair.short)), key=duration_seconds)


def burn_steps(cfg: RulesConfig) -> tuple[tuple[float, str], ...]:
    """One line per burn-rate alert pair: at its factor, red for a page, orange for a ticket."""
    steps = {pair.factor: "red" if pair.severity == "critical" else "orange" for pair in cfg.slo_windows}
    return tuple(sorted(steps.items()))


def _page_factor(cfg: RulesConfig) -> float:
    """The burn factor of the fastest paging pair: the error ratio at which the page fires."""
    critical = [pair.factor for pair in cfg.slo_windows if pair.severity == "critical"]
    return max(critical or [pair.factor for pair in cfg.slo_windows])


def board(cfg: RulesConfig) -> Board:
    """The overview dashboard for ``cfg``, built fresh (descriptions are cheap and immutable)."""
    ctx = Context.of(cfg)
    rows = (
        _alerts_row(),
        _services_row(ctx),
        _service_row(ctx),
        _dependencies_row(ctx),
        _telemetry_row(ctx),
    )
    return make_board(
        ctx,
        "overview",
        "Service overview",
        "Active alerts, then one row per service against its SLO, then the dependency that is unhappy.",
        rows,
    )


def _alerts_row() -> Row:
    return Row(
        title="Active alerts",
        panels=(
            Panel(
                title="Active alerts",
                description="Firing and pending alerts of the selected services, most severe first.",
                unit="none",
                kind="alertlist",
                width=24,
                height=6,
            ),
        ),
    )


def _http(ctx: Context, *matchers: Matcher) -> str:
    return ctx.q.rate(HTTP, *matchers, group=(ctx.service,), part="count")


def _sli(ctx: Context) -> dict[str, str]:
    """Per-service SLI expressions shared by the table and the per-service row."""
    cfg, q, svc = ctx.cfg, ctx.q, ctx.service
    availability_budget = 1 - cfg.availability_objective
    fastest = cfg.slo_windows[0].long
    fast = str(float(cfg.latency_threshold))  # the `le` bound the latency SLI's rule reads
    spent = f"avg_over_time({q.recorded(recorded_errors(cfg, budget_window(cfg)))}[{cfg.slo_budget_window}])"
    return {
        "errors": ratio(_http(ctx, Matcher(STATUS, "=~", "5..")), _http(ctx)),
        "slow": f"({_http(ctx)} - {q.rate(HTTP, group=(svc,), part='bucket', bucket=fast)}) / {_http(ctx)}",
        "latency": q.quantile(cfg.latency_objective, HTTP, group=(svc,)),
        "budget": f"1 - {spent} / {number(availability_budget)}",
        "burn": f"{q.recorded(recorded_errors(cfg, fastest))} / {number(availability_budget)}",
    }


def _status(ctx: Context) -> str:
    """2 when a critical alert fires for the service, 1 for a warning, 0 when none does."""
    svc = ctx.service
    firing = f'ALERTS{{alertstate="firing", {svc}=~"${svc}"'
    known = f"group by ({svc}) ({ctx.q.selector(c.TELEMETRY_INFO)})"
    worst = f'max by ({svc}) (2 * {firing}, severity="critical"}} or {firing}, severity="warning"}})'
    return f"({worst} and on ({svc}) {known}) or on ({svc}) 0 * {known}"


def _services_row(ctx: Context) -> Row:
    """Stats side by side, each listing one coloured line per service: read across, a row per
    service (every stat lists the services in the same label order)."""
    cfg, svc, q = ctx.cfg, ctx.service, ctx.q
    sli = _sli(ctx)
    error_budget = 1 - cfg.availability_objective
    latency_budget = 1 - cfg.latency_objective
    page = _page_factor(cfg)
    target = f"up{{{', '.join(q.matchers)}}}"
    legend = legend_of(svc)
    objective = number(cfg.availability_objective * 100)

    def stat(
        title: str,
        description: str,
        unit: str,
        expr: str,
        *,
        steps: tuple[tuple[float, str], ...] = (),
        base: str = "green",
        mappings: tuple[tuple[int, str, str], ...] = (),
    ) -> Panel:
        return Panel(
            title=title,
            description=description,
            unit=unit,
            kind="stat",
            queries=(Query(expr, legend),),
            listing=True,
            width=3,
            height=7,
            steps=steps,
            base=base,
            mappings=mappings,
        )

    return Row(
        title="Services",
        panels=(
            stat(
                "Status",
                "The most severe alert firing for the service: OK, warning or critical.",
                "none",
                _status(ctx),
                mappings=_STATUS_MAPPINGS,
                steps=((1, "orange"), (2, "red")),
            ),
            stat(
                "Targets up",
                "Share of the service's scrape targets that answer; below 100% an instance is down.",
                "percentunit",
                f"sum by ({svc}) ({target}) / count by ({svc}) ({target})",
                base="red",
                steps=((0.5, "orange"), (1, "green")),
            ),
            stat("Requests", "HTTP requests per second.", "reqps", _http(ctx), base="blue"),
            stat(
                "5xx ratio",
                f"Share of requests answered with a 5xx: orange above the {objective}% objective's error "
                f"budget, red from {number(page)}x the budget, where the fastest burn-rate page fires.",
                "percentunit",
                sli["errors"],
                steps=((error_budget, "orange"), (page * error_budget, "red")),
            ),
            stat(
                f"Slower than {number(cfg.latency_threshold)}s",
                f"Share of requests slower than the latency SLO threshold: orange above the "
                f"{number(cfg.latency_objective * 100)}% objective's budget, red from {number(page)}x it.",
                "percentunit",
                sli["slow"],
                steps=((latency_budget, "orange"), (page * latency_budget, "red")),
            ),
            stat(
                f"p{number(cfg.latency_objective * 100)} latency",
                f"The p{number(cfg.latency_objective * 100)} request duration; red above the latency SLO "
                f"threshold ({number(cfg.latency_threshold)}s).",
                "s",
                sli["latency"],
                steps=((cfg.latency_threshold, "red"),),
            ),
            stat(
                "Budget left",
                f"Share of the {cfg.slo_budget_window} availability error budget not yet spent; red below 0 "
                "(the SLO is missed), orange below 25%.",
                "percentunit",
                sli["budget"],
                base="red",
                steps=((0, "orange"), (0.25, "green")),
            ),
            stat(
                f"Burn rate {cfg.slo_windows[0].long}",
                f"How many times faster than sustainable the availability budget burns over "
                f"{cfg.slo_windows[0].long}: orange from the slowest ticket's factor, red from the pages'.",
                "x",
                sli["burn"],
                steps=burn_steps(cfg),
            ),
        ),
    )


def _service_row(ctx: Context) -> Row:
    """Repeated for each selected service: its traffic and SLIs over time, with the SLO lines."""
    cfg, svc, q = ctx.cfg, ctx.service, ctx.q
    sli = _sli(ctx)
    error_budget = 1 - cfg.availability_objective
    page = _page_factor(cfg)
    errors_links = series_links(ctx)
    slow_links = series_links(ctx, slow=cfg.latency_threshold)
    longs = tuple(dict.fromkeys(pair.long for pair in cfg.slo_windows))
    return Row(
        title=f"Service ${svc}",
        repeat=svc,
        panels=(
            Panel(
                title="Request rate",
                description="HTTP requests per second by route template (the ten busiest routes).",
                unit="reqps",
                queries=(Query(top(q.rate(HTTP, group=(svc, ROUTE), part="count")), legend_of(ROUTE)),),
                width=6,
            ),
            Panel(
                title="Error ratio vs SLO",
                description=(
                    f"Share of requests answered with a 5xx. Orange line: the error budget of the "
                    f"{number(cfg.availability_objective * 100)}% objective; red line: {number(page)}x the "
                    "budget, where the fastest burn-rate page fires. Click a point for its error traces and logs."
                ),
                unit="percentunit",
                queries=(Query(sli["errors"], "5xx ratio"),),
                steps=((error_budget, "orange"), (page * error_budget, "red")),
                links=errors_links,
                width=6,
            ),
            Panel(
                title="Latency vs SLO threshold",
                description=(
                    f"p{number(cfg.latency_objective * 100)} request duration; above the red line "
                    f"({number(cfg.latency_threshold)}s) more than {number((1 - cfg.latency_objective) * 100)}% "
                    "of requests are slower than the latency SLO allows. Exemplar dots open their trace."
                ),
                unit="s",
                queries=(Query(sli["latency"], f"p{number(cfg.latency_objective * 100)}", exemplar=True),),
                threshold=cfg.latency_threshold,
                links=slow_links,
                width=6,
            ),
            Panel(
                title="Error budget left",
                description=(
                    f"Share of the {cfg.slo_budget_window} availability error budget not yet spent "
                    f"(the {budget_window(cfg)} SLI averaged over the period); below 0 the SLO is missed."
                ),
                unit="percentunit",
                kind="stat",
                queries=(Query(sli["budget"], "budget left"),),
                base="red",
                steps=((0, "orange"), (0.25, "green")),
                width=6,
            ),
            Panel(
                title="Burn rate",
                description=(
                    "How many times faster than sustainable each error budget burns, over each alert "
                    "pair's long window; a line per pair's factor (red pages, orange tickets). Both windows of "
                    "a pair above its line fire its alert."
                ),
                unit="x",
                queries=tuple(
                    Query(f"{q.recorded(record(cfg, w))} / {number(1 - objective)}", f"{kind} over {w}")
                    for kind, record, objective in (
                        ("availability", recorded_errors, cfg.availability_objective),
                        ("latency", recorded_slow, cfg.latency_objective),
                    )
                    for w in longs
                ),
                steps=burn_steps(cfg),
                width=12,
            ),
            Panel(
                title="Slow requests vs SLO",
                description=(
                    f"Share of requests slower than {number(cfg.latency_threshold)}s; orange line: the latency "
                    f"budget of the {number(cfg.latency_objective * 100)}% objective."
                ),
                unit="percentunit",
                queries=(Query(sli["slow"], "slow ratio"),),
                steps=((1 - cfg.latency_objective, "orange"), (page * (1 - cfg.latency_objective), "red")),
                links=slow_links,
                width=12,
            ),
        ),
    )


def _dependencies_row(ctx: Context) -> Row:
    """Which dependency is unhappy: per service and object, with the alerts' own thresholds."""
    cfg, svc, q = ctx.cfg, ctx.service, ctx.q
    not_closed = Matcher(c.BREAKER_STATE, "!=", value(c.BREAKER_STATE, "closed"))
    state = label(c.DB_CLIENT_CONNECTION_COUNT, "db.client.connection.state")
    per_instance = (svc, ctx.q.instance, c.POOL_NAME)
    used = q.aggregate("sum", c.DB_CLIENT_CONNECTION_COUNT, Matcher(state, "=", "used"), group=per_instance)
    pool_max = q.aggregate("sum", c.DB_CLIENT_CONNECTION_MAX, group=per_instance)
    dep = c.DEPENDENCY_OPERATIONS
    dep_failed = q.rate(dep, outcomes_in(dep, cfg.dependency_failure_outcomes), group=(svc, c.DEPENDENCY))
    dep_all = q.rate(dep, group=(svc, c.DEPENDENCY))
    return Row(
        title="Which dependency is unhappy",
        panels=(
            Panel(
                title="Breakers not closed",
                description=(
                    "Breakers by name with the number of instances where each is open or half-open: red "
                    "from one; the ten worst, so 0 everywhere means every breaker is closed."
                ),
                unit="short",
                kind="stat",
                queries=(
                    Query(
                        top(f"sum by ({svc}, {c.BREAKER_NAME.prom}) ({q.selector(c.CIRCUIT_STATE, not_closed)})"),
                        legend_of(svc, c.BREAKER_NAME),
                    ),
                ),
                threshold=1,
                width=8,
                height=6,
            ),
            Panel(
                title="Pools, % of max",
                description=(
                    "Connections in use as a share of the pool's maximum (size + overflow), the fullest "
                    "instance of each pool; at 100% checkouts wait (the pool alerts)."
                ),
                unit="percentunit",
                kind="stat",
                queries=(
                    Query(
                        top(f"max by ({svc}, {c.POOL_NAME.prom}) ({used} / {pool_max})"),
                        legend_of(svc, c.POOL_NAME),
                    ),
                ),
                steps=((0.8, "orange"), (1, "red")),
                width=8,
                height=6,
            ),
            Panel(
                title="Dependency failure ratio",
                description=(
                    f"Share of operations failing with {', '.join(cfg.dependency_failure_outcomes)} (client errors "
                    f"are the caller's, not the dependency's), per dependency; red from "
                    f"{number(cfg.dependency_failure_ratio * 100)}%, the alert threshold."
                ),
                unit="percentunit",
                kind="stat",
                queries=(Query(top(ratio(dep_failed, dep_all)), legend_of(svc, c.DEPENDENCY)),),
                threshold=cfg.dependency_failure_ratio,
                width=8,
                height=6,
            ),
            Panel(
                title="DLQ inflow",
                description=(
                    f"Messages dead-lettered in the last {cfg.dlq_inflow_window}, by source queue; red above "
                    f"{number(cfg.dlq_inflow_threshold)}, where the inflow alert fires."
                ),
                unit="short",
                kind="stat",
                queries=(
                    Query(
                        top(
                            f"sum by ({svc}, {c.QUEUE.prom}) "
                            f"(increase({q.selector(c.DLQ_DEAD_LETTERED)}[{cfg.dlq_inflow_window}]))"
                        ),
                        legend_of(svc, c.QUEUE),
                    ),
                ),
                # Grafana colours from a step on (>=), the alert fires above it (>)
                threshold=cfg.dlq_inflow_threshold + 1e-9,
                width=8,
                height=6,
            ),
            Panel(
                title="Outbox oldest pending",
                description=(
                    "Age of the oldest pending outbox row per table (every replica reads the same table, "
                    f"so the maximum); orange from {number(cfg.outbox_age_warning)}s, red from "
                    f"{number(cfg.outbox_age_critical)}s, as the backlog alerts."
                ),
                unit="s",
                kind="stat",
                queries=(
                    Query(
                        top(q.aggregate("max", c.OUTBOX_OLDEST_PENDING_AGE, group=(svc, TABLE))),
                        legend_of(svc, TABLE),
                    ),
                ),
                steps=((cfg.outbox_age_warning, "orange"), (cfg.outbox_age_critical, "red")),
                width=8,
                height=6,
            ),
            Panel(
                title="Degraded components",
                description="Components by name: 1 (red) while any instance runs it in degraded mode; the ten worst.",
                unit="short",
                kind="stat",
                queries=(
                    Query(
                        top(f"max by ({svc}, {label(c.DEGRADED, 'component').prom}) ({q.selector(c.DEGRADED)})"),
                        legend_of(svc, label(c.DEGRADED, "component")),
                    ),
                ),
                threshold=1,
                width=8,
                height=6,
            ),
        ),
    )


def _telemetry_row(ctx: Context) -> Row:
    q, svc = ctx.q, ctx.service
    sink = label(c.TELEMETRY_SINK_ERRORS, "sink")
    overflow = label(c.TELEMETRY_LABEL_OVERFLOWS, "label")
    signal = label(c.TELEMETRY_EXPORT_DROPPED, "signal")
    version = label(c.TELEMETRY_INFO, "version")
    return Row(
        title="Telemetry",
        panels=(
            Panel(
                title="Telemetry errors",
                description=(
                    "Exceptions swallowed by the telemetry sinks, label values folded into _OTHER, and spans"
                    " and log records lost on the way to the OTLP endpoint (queue full or export failed)."
                ),
                unit="ops",
                queries=(
                    Query(
                        q.rate(c.TELEMETRY_SINK_ERRORS, group=(svc, sink)), f"{legend_of(svc)} sink {legend_of(sink)}"
                    ),
                    Query(
                        q.rate(c.TELEMETRY_LABEL_OVERFLOWS, group=(svc, overflow)),
                        f"{legend_of(svc)} overflow {legend_of(overflow)}",
                    ),
                    Query(
                        q.rate(c.TELEMETRY_EXPORT_DROPPED, group=(svc, signal)),
                        f"{legend_of(svc)} dropped {legend_of(signal)}",
                    ),
                ),
                width=16,
            ),
            Panel(
                title="Instances reporting",
                description="Instances exposing resilience telemetry, by service and package version.",
                unit="short",
                kind="stat",
                queries=(Query(q.aggregate("count", c.TELEMETRY_INFO, group=(svc, version)), legend_of(svc, version)),),
                width=8,
            ),
        ),
    )
