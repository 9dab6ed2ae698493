"""The connection-pool dashboard: used vs max, waiting checkouts, wait and use times, timeouts.

Metric and label names come from the catalog through :mod:`telemetry.promql`; the shared
variables, links and panel helpers are in :mod:`telemetry.dashboards._common`.
"""

from __future__ import annotations

from telemetry import catalog as c
from telemetry.dashboards._common import component_var, latency_queries, legend_of, make_board, match_var
from telemetry.dashboards._grafana import Board, Panel, Query, Row
from telemetry.dashboards._promql import INSTANCE, Matcher, aggregate, label, quantile, rate

__all__ = ["board"]


def board() -> Board:
    """The pools dashboard, built fresh (descriptions are cheap and immutable)."""
    var = component_var("pool", "Pool", c.DB_CLIENT_CONNECTION_MAX, c.POOL_NAME)
    rows = (
        _usage_row(),
        _waits_and_failures_row(),
        _connections_row(),
    )
    return make_board(
        "rt-pools", "Connection pools", "Usage, waits, timeouts and invalidations of database pools.", rows, var
    )


def _usage_row() -> Row:
    """The "Usage" row."""
    var = component_var("pool", "Pool", c.DB_CLIENT_CONNECTION_MAX, c.POOL_NAME)
    only = match_var(c.POOL_NAME, var)
    group = (INSTANCE, c.POOL_NAME)
    state = label(c.DB_CLIENT_CONNECTION_COUNT, "db.client.connection.state")
    legend = legend_of(c.POOL_NAME, INSTANCE)
    return Row(
        title="Usage",
        panels=(
            Panel(
                title="Used vs max",
                description="Connections checked out against the most the pool allows (size + overflow).",
                unit="short",
                queries=(
                    Query(
                        aggregate("sum", c.DB_CLIENT_CONNECTION_COUNT, only, Matcher(state, "=", "used"), group=group),
                        f"used {legend}",
                    ),
                    Query(aggregate("sum", c.DB_CLIENT_CONNECTION_MAX, only, group=group), f"max {legend}"),
                ),
                width=8,
            ),
            Panel(
                title="Idle",
                description="Idle connections kept in the pool.",
                unit="short",
                queries=(
                    Query(
                        aggregate("sum", c.DB_CLIENT_CONNECTION_COUNT, only, Matcher(state, "=", "idle"), group=group),
                        legend,
                    ),
                ),
                width=8,
            ),
            Panel(
                title="Pending requests",
                description="Checkouts waiting for a connection right now.",
                unit="short",
                queries=(Query(aggregate("sum", c.DB_CLIENT_CONNECTION_PENDING_REQUESTS, only, group=group), legend),),
                width=8,
            ),
        ),
    )


def _waits_and_failures_row() -> Row:
    """The "Waits and failures" row."""
    var = component_var("pool", "Pool", c.DB_CLIENT_CONNECTION_MAX, c.POOL_NAME)
    only = match_var(c.POOL_NAME, var)
    return Row(
        title="Waits and failures",
        panels=(
            Panel(
                title="Wait time",
                description="Time a checkout waited for a connection; exemplars link to the waiting trace.",
                unit="s",
                queries=latency_queries(c.DB_CLIENT_CONNECTION_WAIT_TIME, only, group=(c.POOL_NAME,)),
                width=8,
            ),
            Panel(
                title="Timeouts",
                description="Checkouts that gave up waiting (pool timeout).",
                unit="ops",
                queries=(
                    Query(rate(c.DB_CLIENT_CONNECTION_TIMEOUTS, only, group=(c.POOL_NAME,)), legend_of(c.POOL_NAME)),
                ),
                width=8,
            ),
            Panel(
                title="Exhaustion and leaks",
                description="Checkouts that found the pool exhausted, and connections reclaimed by the garbage "
                "collector instead of being returned (a leak).",
                unit="ops",
                queries=(
                    Query(rate(c.POOL_EXHAUSTED, only, group=(c.POOL_NAME,)), f"exhausted {legend_of(c.POOL_NAME)}"),
                    Query(rate(c.POOL_GC_RETURNED, only, group=(c.POOL_NAME,)), f"leaked {legend_of(c.POOL_NAME)}"),
                ),
                width=8,
            ),
        ),
    )


def _connections_row() -> Row:
    """The "Connections" row."""
    var = component_var("pool", "Pool", c.DB_CLIENT_CONNECTION_MAX, c.POOL_NAME)
    only = match_var(c.POOL_NAME, var)
    invalidation = label(c.POOL_INVALIDATIONS, "invalidation")
    return Row(
        title="Connections",
        panels=(
            Panel(
                title="Invalidations",
                description="Connections invalidated (hard: closed now; soft: replaced at next checkout), "
                "by error type.",
                unit="ops",
                queries=(
                    Query(
                        rate(c.POOL_INVALIDATIONS, only, group=(c.POOL_NAME, invalidation, c.ERROR_TYPE)),
                        legend_of(c.POOL_NAME, invalidation, c.ERROR_TYPE),
                    ),
                ),
            ),
            Panel(
                title="Create and use time (p95)",
                description="Time to open a new connection, and time between checkout and return.",
                unit="s",
                queries=(
                    Query(
                        quantile(0.95, c.DB_CLIENT_CONNECTION_CREATE_TIME, only, group=(c.POOL_NAME,)),
                        f"create {legend_of(c.POOL_NAME)}",
                    ),
                    Query(
                        quantile(0.95, c.DB_CLIENT_CONNECTION_USE_TIME, only, group=(c.POOL_NAME,)),
                        f"use {legend_of(c.POOL_NAME)}",
                        exemplar=True,
                    ),
                ),
            ),
        ),
    )
