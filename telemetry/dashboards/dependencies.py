"""The dependency and health dashboard: operations by outcome, health checks, degraded mode.

The failure ratios count the same outcomes as their alerts (``RulesConfig.
dependency_failure_outcomes``: a client error is the caller's fault, not the dependency's) and
draw the alerts' thresholds. Metric and label names come from the catalog through
:mod:`telemetry.promql`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemetry import catalog as c
from telemetry.dashboards._common import (
    Context,
    component_var,
    latency_queries,
    legend_of,
    make_board,
    match_var,
    object_links,
    outcome_is,
    outcomes_in,
    top,
)
from telemetry.dashboards._grafana import Board, Panel, Query, Row, Variable
from telemetry.dashboards._promql import label, ratio
from telemetry.promql import number

if TYPE_CHECKING:
    from telemetry.rules.config import RulesConfig

__all__ = ["board"]


def _dep_var(ctx: Context) -> Variable:
    return component_var(ctx, "dependency", "Dependency", c.DEPENDENCY_OPERATIONS, c.DEPENDENCY)


def _check_var(ctx: Context) -> Variable:
    return component_var(ctx, "check", "Health check", c.HEALTH_CHECKS, c.CHECK)


def board(cfg: RulesConfig) -> Board:
    """The dependencies dashboard for ``cfg``, built fresh (descriptions are cheap and immutable)."""
    ctx = Context.of(cfg)
    return make_board(
        ctx,
        "dependencies",
        "Dependencies and health",
        "Dependency operations (S3 and others), health-check results and degraded components.",
        (_dependencies_row(ctx), _health_checks_row(ctx), _degraded_mode_and_fallbacks_row(ctx)),
        _dep_var(ctx),
        _check_var(ctx),
    )


def _dependencies_row(ctx: Context) -> Row:
    cfg, q, svc = ctx.cfg, ctx.q, ctx.service
    dep = match_var(c.DEPENDENCY, _dep_var(ctx))
    spec = c.DEPENDENCY_OPERATIONS
    dep_outcome = label(spec, "outcome")
    per_dep = (svc, c.DEPENDENCY)
    dep_failed = q.rate(spec, dep, outcomes_in(spec, cfg.dependency_failure_outcomes), group=per_dep)
    dep_all = q.rate(spec, dep, group=per_dep)
    return Row(
        title="Dependencies (S3 and others)",
        panels=(
            Panel(
                title="Operations by outcome",
                description="Dependency operations per second by operation and outcome (top ten).",
                unit="ops",
                queries=(
                    Query(
                        top(q.rate(spec, dep, group=(*per_dep, c.OPERATION, dep_outcome))),
                        legend_of(c.DEPENDENCY, c.OPERATION, dep_outcome),
                    ),
                ),
                stack=True,
            ),
            Panel(
                title="Failure ratio",
                description=(
                    f"Share of operations failing with {', '.join(cfg.dependency_failure_outcomes)}, per "
                    "dependency (client errors are not the dependency's failures); the red line is the "
                    f"failure-ratio alert's threshold ({number(cfg.dependency_failure_ratio * 100)}%)."
                ),
                unit="percentunit",
                queries=(Query(ratio(dep_failed, dep_all), legend_of(c.DEPENDENCY)),),
                threshold=cfg.dependency_failure_ratio,
                links=object_links(ctx, c.DEPENDENCY),
            ),
            Panel(
                title="Latency",
                description="Operation duration including the client's own retries; exemplars link to traces.",
                unit="s",
                queries=latency_queries(ctx, c.DEPENDENCY_DURATION, dep, group=per_dep),
            ),
            Panel(
                title="Client library retries",
                description="Retries the dependency's client library made on its own (e.g. botocore).",
                unit="ops",
                queries=(
                    Query(
                        top(q.rate(c.DEPENDENCY_CLIENT_RETRIES, dep, group=(*per_dep, c.OPERATION))),
                        legend_of(c.DEPENDENCY, c.OPERATION),
                    ),
                ),
            ),
        ),
    )


def _health_checks_row(ctx: Context) -> Row:
    cfg, q, svc = ctx.cfg, ctx.q, ctx.service
    check = match_var(c.CHECK, _check_var(ctx))
    check_outcome = label(c.HEALTH_CHECKS, "outcome")
    per_check = (svc, c.CHECK)
    check_failed = q.rate(c.HEALTH_CHECKS, check, outcome_is(c.HEALTH_CHECKS, "success", "!="), group=per_check)
    check_all = q.rate(c.HEALTH_CHECKS, check, group=per_check)
    return Row(
        title="Health checks",
        panels=(
            Panel(
                title="Check results",
                description="Health check runs by check and outcome (a timeout counts as a failure).",
                unit="ops",
                queries=(
                    Query(
                        q.rate(c.HEALTH_CHECKS, check, group=(*per_check, check_outcome)),
                        legend_of(c.CHECK, check_outcome),
                    ),
                ),
                width=8,
                stack=True,
            ),
            Panel(
                title="Check failure ratio",
                description="Share of failed or timed-out runs per check; the red line is the health alert's "
                f"threshold ({number(cfg.health_failure_ratio * 100)}%).",
                unit="percentunit",
                queries=(Query(ratio(check_failed, check_all), legend_of(c.CHECK)),),
                width=8,
                threshold=cfg.health_failure_ratio,
                links=object_links(ctx, c.CHECK),
            ),
            Panel(
                title="Check duration",
                description="Duration of health check runs.",
                unit="s",
                queries=latency_queries(ctx, c.HEALTH_CHECK_DURATION, check, group=per_check),
                width=8,
            ),
        ),
    )


def _degraded_mode_and_fallbacks_row(ctx: Context) -> Row:
    q, svc = ctx.q, ctx.service
    component = label(c.DEGRADED, "component")
    reason = label(c.FALLBACK_ACTIVATIONS, "reason")
    return Row(
        title="Degraded mode and fallbacks",
        panels=(
            Panel(
                title="Degraded components",
                description="Components running in degraded mode on any instance.",
                unit="none",
                kind="state-timeline",
                queries=(Query(q.aggregate("max", c.DEGRADED, group=(svc, component)), legend_of(component)),),
                mappings=((0, "normal", "green"), (1, "degraded", "orange")),
            ),
            Panel(
                title="Fallback activations",
                description="Times a fallback answered instead of the primary path, by operation and reason.",
                unit="ops",
                queries=(
                    Query(
                        top(q.rate(c.FALLBACK_ACTIVATIONS, group=(svc, c.OPERATION, reason))),
                        legend_of(c.OPERATION, reason),
                    ),
                ),
                stack=True,
            ),
        ),
    )
