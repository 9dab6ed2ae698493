"""The connection-pool dashboard: used vs max, waiting checkouts, wait and use times, timeouts.

Each instance has its own pool, so connection counts add up across instances (total used
against total capacity); the fullest instances are shown as a share of their own maximum,
the ten worst only, so 20 instances stay readable. Metric and label names come from the
catalog through :mod:`telemetry.promql`.
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
    top,
)
from telemetry.dashboards._grafana import Board, Panel, Query, Row, Variable
from telemetry.dashboards._promql import Matcher, label

if TYPE_CHECKING:
    from telemetry.rules.config import RulesConfig

__all__ = ["board"]

_STATE = label(c.DB_CLIENT_CONNECTION_COUNT, "db.client.connection.state")


def _var(ctx: Context) -> Variable:
    return component_var(ctx, "pool", "Pool", c.DB_CLIENT_CONNECTION_MAX, c.POOL_NAME)


def board(cfg: RulesConfig) -> Board:
    """The pools dashboard for ``cfg``, built fresh (descriptions are cheap and immutable)."""
    ctx = Context.of(cfg)
    rows = (_usage_row(ctx), _waits_and_failures_row(ctx), _connections_row(ctx))
    return make_board(
        ctx, "pools", "Connection pools", "Usage, waits, timeouts and invalidations of database pools.", rows, _var(ctx)
    )


def _usage_row(ctx: Context) -> Row:
    q, svc = ctx.q, ctx.service
    only = match_var(c.POOL_NAME, _var(ctx))
    per_pool = (svc, c.POOL_NAME)
    per_instance = (svc, ctx.q.instance, c.POOL_NAME)
    used = Matcher(_STATE, "=", "used")
    share = (
        f"{q.aggregate('sum', c.DB_CLIENT_CONNECTION_COUNT, only, used, group=per_instance)}"
        f" / {q.aggregate('sum', c.DB_CLIENT_CONNECTION_MAX, only, group=per_instance)}"
    )
    return Row(
        title="Usage",
        panels=(
            Panel(
                title="Used vs max",
                description="Connections checked out against the most the pools allow (size + overflow), "
                "added up over the instances of each pool.",
                unit="short",
                queries=(
                    Query(
                        q.aggregate("sum", c.DB_CLIENT_CONNECTION_COUNT, only, used, group=per_pool),
                        f"used {legend_of(c.POOL_NAME)}",
                    ),
                    Query(
                        q.aggregate("sum", c.DB_CLIENT_CONNECTION_MAX, only, group=per_pool),
                        f"max {legend_of(c.POOL_NAME)}",
                    ),
                ),
                width=8,
            ),
            Panel(
                title="Fullest instances",
                description="Used / max of each instance's pool, the ten fullest; at the red line (100%) "
                "checkouts wait, which the pool saturation alert watches.",
                unit="percentunit",
                queries=(Query(top(share), legend_of(c.POOL_NAME, ctx.q.instance)),),
                steps=((0.8, "orange"), (1, "red")),
                width=8,
            ),
            Panel(
                title="Pending requests",
                description="Checkouts waiting for a connection right now, the ten instances with the most.",
                unit="short",
                queries=(
                    Query(
                        top(q.aggregate("sum", c.DB_CLIENT_CONNECTION_PENDING_REQUESTS, only, group=per_instance)),
                        legend_of(c.POOL_NAME, ctx.q.instance),
                    ),
                ),
                width=8,
            ),
            Panel(
                title="Idle",
                description="Idle connections kept in the pools, added up over instances.",
                unit="short",
                queries=(
                    Query(
                        q.aggregate(
                            "sum", c.DB_CLIENT_CONNECTION_COUNT, only, Matcher(_STATE, "=", "idle"), group=per_pool
                        ),
                        legend_of(c.POOL_NAME),
                    ),
                ),
                width=8,
            ),
        ),
    )


def _waits_and_failures_row(ctx: Context) -> Row:
    q, svc = ctx.q, ctx.service
    only = match_var(c.POOL_NAME, _var(ctx))
    per_pool = (svc, c.POOL_NAME)
    return Row(
        title="Waits and failures",
        panels=(
            Panel(
                title="Wait time",
                description="Time a checkout waited for a connection; exemplars link to the waiting trace.",
                unit="s",
                queries=latency_queries(ctx, c.DB_CLIENT_CONNECTION_WAIT_TIME, only, group=per_pool),
                width=8,
            ),
            Panel(
                title="Timeouts",
                description="Checkouts that gave up waiting (pool timeout), per second.",
                unit="ops",
                queries=(Query(q.rate(c.DB_CLIENT_CONNECTION_TIMEOUTS, only, group=per_pool), legend_of(c.POOL_NAME)),),
                links=object_links(ctx, c.POOL_NAME),
                width=8,
            ),
            Panel(
                title="Exhaustion and leaks",
                description="Checkouts that found the pool exhausted, and connections reclaimed by the garbage "
                "collector instead of being returned (a leak).",
                unit="ops",
                queries=(
                    Query(q.rate(c.POOL_EXHAUSTED, only, group=per_pool), f"exhausted {legend_of(c.POOL_NAME)}"),
                    Query(q.rate(c.POOL_GC_RETURNED, only, group=per_pool), f"leaked {legend_of(c.POOL_NAME)}"),
                ),
                width=8,
            ),
        ),
    )


def _connections_row(ctx: Context) -> Row:
    q, svc = ctx.q, ctx.service
    only = match_var(c.POOL_NAME, _var(ctx))
    per_pool = (svc, c.POOL_NAME)
    invalidation = label(c.POOL_INVALIDATIONS, "invalidation")
    return Row(
        title="Connections",
        panels=(
            Panel(
                title="Invalidations",
                description="Connections invalidated (hard: closed now; soft: replaced at next checkout), "
                "by error type (top ten).",
                unit="ops",
                queries=(
                    Query(
                        top(q.rate(c.POOL_INVALIDATIONS, only, group=(*per_pool, invalidation, c.ERROR_TYPE))),
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
                        q.quantile(0.95, c.DB_CLIENT_CONNECTION_CREATE_TIME, only, group=per_pool),
                        f"create {legend_of(c.POOL_NAME)}",
                    ),
                    Query(
                        q.quantile(0.95, c.DB_CLIENT_CONNECTION_USE_TIME, only, group=per_pool),
                        f"use {legend_of(c.POOL_NAME)}",
                        exemplar=True,
                    ),
                ),
            ),
        ),
    )
