"""The dependency and health dashboard: operations by outcome, health checks, degraded mode.

Metric and label names come from the catalog through :mod:`telemetry.promql`; the shared
variables, links and panel helpers are in :mod:`telemetry.dashboards._common`.
"""

from __future__ import annotations

from telemetry import catalog as c
from telemetry.dashboards._common import (
    DEPENDENCY_FAILURE_RATIO_THRESHOLD,
    HEALTH_FAILURE_RATIO_THRESHOLD,
    component_var,
    latency_queries,
    legend_of,
    make_board,
    match_var,
    outcome_is,
)
from telemetry.dashboards._grafana import Board, Panel, Query, Row
from telemetry.dashboards._promql import aggregate, label, rate, ratio

__all__ = ["board"]


def board() -> Board:
    """The dependencies dashboard, built fresh (descriptions are cheap and immutable)."""
    dep_var = component_var("dependency", "Dependency", c.DEPENDENCY_OPERATIONS, c.DEPENDENCY)
    check_var = component_var("check", "Health check", c.HEALTH_CHECKS, c.CHECK)
    rows = (
        _dependencies_s3_and_others_row(),
        _health_checks_row(),
        _degraded_mode_and_fallbacks_row(),
    )
    return make_board(
        "rt-dependencies",
        "Dependencies and health",
        "Dependency operations (S3 and others), health-check results and degraded components.",
        rows,
        dep_var,
        check_var,
    )


def _dependencies_s3_and_others_row() -> Row:
    """The "Dependencies (S3 and others)" row."""
    dep_var = component_var("dependency", "Dependency", c.DEPENDENCY_OPERATIONS, c.DEPENDENCY)
    dep = match_var(c.DEPENDENCY, dep_var)
    dep_outcome = label(c.DEPENDENCY_OPERATIONS, "outcome")
    dep_failed = rate(
        c.DEPENDENCY_OPERATIONS, dep, outcome_is(c.DEPENDENCY_OPERATIONS, "success", "!="), group=(c.DEPENDENCY,)
    )
    dep_all = rate(c.DEPENDENCY_OPERATIONS, dep, group=(c.DEPENDENCY,))
    return Row(
        title="Dependencies (S3 and others)",
        panels=(
            Panel(
                title="Operations by outcome",
                description="Dependency operations per second by operation and outcome.",
                unit="ops",
                queries=(
                    Query(
                        rate(c.DEPENDENCY_OPERATIONS, dep, group=(c.DEPENDENCY, c.OPERATION, dep_outcome)),
                        legend_of(c.DEPENDENCY, c.OPERATION, dep_outcome),
                    ),
                ),
                stack=True,
            ),
            Panel(
                title="Failure ratio",
                description="Share of failed operations per dependency; the red line is the S3 alert threshold.",
                unit="percentunit",
                queries=(Query(ratio(dep_failed, dep_all), legend_of(c.DEPENDENCY)),),
                threshold=DEPENDENCY_FAILURE_RATIO_THRESHOLD,
            ),
            Panel(
                title="Latency",
                description="Operation duration including the client's own retries; exemplars link to traces.",
                unit="s",
                queries=latency_queries(c.DEPENDENCY_DURATION, dep, group=(c.DEPENDENCY,)),
            ),
            Panel(
                title="Client library retries",
                description="Retries the dependency's client library made on its own (e.g. botocore).",
                unit="ops",
                queries=(
                    Query(
                        rate(c.DEPENDENCY_CLIENT_RETRIES, dep, group=(c.DEPENDENCY, c.OPERATION)),
                        legend_of(c.DEPENDENCY, c.OPERATION),
                    ),
                ),
            ),
        ),
    )


def _health_checks_row() -> Row:
    """The "Health checks" row."""
    check_var = component_var("check", "Health check", c.HEALTH_CHECKS, c.CHECK)
    check = match_var(c.CHECK, check_var)
    check_outcome = label(c.HEALTH_CHECKS, "outcome")
    check_failed = rate(c.HEALTH_CHECKS, check, outcome_is(c.HEALTH_CHECKS, "success", "!="), group=(c.CHECK,))
    check_all = rate(c.HEALTH_CHECKS, check, group=(c.CHECK,))
    return Row(
        title="Health checks",
        panels=(
            Panel(
                title="Check results",
                description="Health check runs by check and outcome (a timeout counts as a failure).",
                unit="ops",
                queries=(
                    Query(
                        rate(c.HEALTH_CHECKS, check, group=(c.CHECK, check_outcome)),
                        legend_of(c.CHECK, check_outcome),
                    ),
                ),
                width=8,
                stack=True,
            ),
            Panel(
                title="Check failure ratio",
                description="Share of failed or timed-out runs per check; the red line is the alert threshold.",
                unit="percentunit",
                queries=(Query(ratio(check_failed, check_all), legend_of(c.CHECK)),),
                width=8,
                threshold=HEALTH_FAILURE_RATIO_THRESHOLD,
            ),
            Panel(
                title="Check duration",
                description="Duration of health check runs.",
                unit="s",
                queries=latency_queries(c.HEALTH_CHECK_DURATION, check, group=(c.CHECK,)),
                width=8,
            ),
        ),
    )


def _degraded_mode_and_fallbacks_row() -> Row:
    """The "Degraded mode and fallbacks" row."""
    component = label(c.DEGRADED, "component")
    return Row(
        title="Degraded mode and fallbacks",
        panels=(
            Panel(
                title="Degraded components",
                description="Components running in degraded mode.",
                unit="none",
                kind="state-timeline",
                queries=(Query(aggregate("max", c.DEGRADED, group=(component,)), legend_of(component)),),
                mappings=((0, "normal", "green"), (1, "degraded", "orange")),
            ),
            Panel(
                title="Fallback activations",
                description="Times a fallback answered instead of the primary path, by operation and reason.",
                unit="ops",
                queries=(
                    Query(
                        rate(c.FALLBACK_ACTIVATIONS, group=(c.OPERATION, label(c.FALLBACK_ACTIVATIONS, "reason"))),
                        legend_of(c.OPERATION, label(c.FALLBACK_ACTIVATIONS, "reason")),
                    ),
                ),
                stack=True,
            ),
        ),
    )
