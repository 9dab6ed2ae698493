"""The toolbox dashboard (``toolbox.json``): timeouts, rate limiters, bulkheads, recovery jobs.

Metric and label names come from the catalog through :mod:`telemetry.promql`; the shared
variables, links and panel helpers are in :mod:`telemetry.dashboards._common`. Thresholds drawn
here are the alerts' own, from the same :class:`telemetry.rules.config.RulesConfig`.
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
    outcome_is,
)
from telemetry.dashboards._grafana import Board, Panel, Query, Row, Variable
from telemetry.dashboards._promql import by, label, ratio

if TYPE_CHECKING:
    from telemetry.rules.config import RulesConfig

__all__ = ["board"]


def _operation_var(ctx: Context) -> Variable:
    return component_var(ctx, "operation", "Timed operation", c.TIMEOUT_BUDGET, c.TIMEOUT_OPERATION)


def _limiter_var(ctx: Context) -> Variable:
    return component_var(ctx, "limiter", "Rate limiter", c.RATELIMIT_FALLBACK_ACTIVE, c.RATELIMIT_LIMITER)


def _bulkhead_var(ctx: Context) -> Variable:
    return component_var(ctx, "bulkhead", "Bulkhead", c.BULKHEAD_LIMIT, c.BULKHEAD_NAME)


def _recovery_var(ctx: Context) -> Variable:
    return component_var(ctx, "recovery", "Recovery job", c.RECOVERY_RUNS, c.RECOVERY_NAME)


def board(cfg: RulesConfig) -> Board:
    """The toolbox dashboard for ``cfg``, built fresh (descriptions are cheap and immutable)."""
    ctx = Context.of(cfg)
    return make_board(
        ctx,
        "toolbox",
        "Timeouts, rate limits, bulkheads and recovery",
        "Operations out of their time budget, rate-limit decisions and the limiter's fallback, "
        "bulkhead saturation and rejections, parked work and the jobs that drain it.",
        (_timeouts_row(ctx), _rate_limiting_row(ctx), _bulkheads_row(ctx), _recovery_row(ctx)),
        _operation_var(ctx),
        _limiter_var(ctx),
        _bulkhead_var(ctx),
        _recovery_var(ctx),
    )


def _timeouts_row(ctx: Context) -> Row:
    q = ctx.q
    """The "Timeouts" row."""
    op = match_var(c.TIMEOUT_OPERATION, _operation_var(ctx))
    outcome = label(c.TIMEOUT_CALLS, "outcome")
    timed_out = q.rate(c.TIMEOUT_CALLS, op, outcome_is(c.TIMEOUT_CALLS, "timeout"), group=(c.TIMEOUT_OPERATION,))
    every = q.rate(c.TIMEOUT_CALLS, op, group=(c.TIMEOUT_OPERATION,))
    return Row(
        title="Timeouts",
        panels=(
            Panel(
                title="Calls by outcome",
                description="Operations run under a time budget, per second, by outcome (timeout: the budget ran out).",
                unit="ops",
                queries=(
                    Query(
                        q.rate(c.TIMEOUT_CALLS, op, group=(c.TIMEOUT_OPERATION, outcome)),
                        legend_of(c.TIMEOUT_OPERATION, outcome),
                    ),
                ),
                width=8,
                stack=True,
            ),
            Panel(
                title="Timeout ratio",
                description="Share of calls that ran out of their budget; the red line is the alert threshold.",
                unit="percentunit",
                queries=(Query(ratio(timed_out, every), legend_of(c.TIMEOUT_OPERATION)),),
                width=8,
                threshold=ctx.cfg.timeout_ratio,
            ),
            Panel(
                title="Elapsed time against the budget",
                description="p50/p95/p99 of the elapsed time and the configured budget; exemplars link to traces.",
                unit="s",
                queries=(
                    *latency_queries(ctx, c.TIMEOUT_DURATION, op, group=(c.TIMEOUT_OPERATION,)),
                    Query(
                        q.aggregate("max", c.TIMEOUT_BUDGET, op, group=(c.TIMEOUT_OPERATION,)),
                        f"budget {legend_of(c.TIMEOUT_OPERATION)}",
                    ),
                ),
                width=8,
            ),
        ),
    )


def _rate_limiting_row(ctx: Context) -> Row:
    q = ctx.q
    """The "Rate limiting" row."""
    limiter = match_var(c.RATELIMIT_LIMITER, _limiter_var(ctx))
    outcome = label(c.RATELIMIT_DECISIONS, "outcome")
    group = (c.RATELIMIT_LIMITER, c.RATELIMIT_LIMIT)
    rejected = q.rate(c.RATELIMIT_DECISIONS, limiter, outcome_is(c.RATELIMIT_DECISIONS, "rejected"), group=group)
    every = q.rate(c.RATELIMIT_DECISIONS, limiter, group=group)
    active = q.aggregate("max", c.RATELIMIT_FALLBACK_ACTIVE, limiter, group=(c.RATELIMIT_LIMITER,))
    errors = q.rate(c.RATELIMIT_STORAGE_ERRORS, limiter, group=(c.RATELIMIT_LIMITER, c.ERROR_TYPE))
    return Row(
        title="Rate limiting",
        panels=(
            Panel(
                title="Decisions by limit",
                description="Requests admitted and rejected per second, by limit (a route or a name, never a client).",
                unit="reqps",
                queries=(
                    Query(q.rate(c.RATELIMIT_DECISIONS, limiter, group=(*group, outcome)), legend_of(*group, outcome)),
                ),
                width=8,
                stack=True,
            ),
            Panel(
                title="Rejection ratio",
                description="Share of a limit's requests answered 429; the red line is the alert threshold.",
                unit="percentunit",
                queries=(Query(ratio(rejected, every), legend_of(*group)),),
                width=8,
                threshold=ctx.cfg.ratelimit_rejection_ratio,
            ),
            Panel(
                title="Limiter on its fallback",
                description="Whether the limiter runs on its fallback (per-process limits): its storage is down.",
                unit="none",
                kind="state-timeline",
                queries=(Query(active, legend_of(c.RATELIMIT_LIMITER)),),
                width=8,
                mappings=((0, "storage", "green"), (1, "fallback", "orange")),
            ),
            Panel(
                title="Fallback switches and storage errors",
                description="Switches to the fallback in the interval, and storage errors per second by type.",
                unit="short",
                queries=(
                    Query(
                        q.rate(c.RATELIMIT_FALLBACK_ACTIVATIONS, limiter, group=(c.RATELIMIT_LIMITER,), fn="increase"),
                        f"switches {legend_of(c.RATELIMIT_LIMITER)}",
                    ),
                    Query(f"{errors} or 0 * {active}", f"errors {legend_of(c.RATELIMIT_LIMITER, c.ERROR_TYPE)}"),
                ),
                width=24,
            ),
        ),
    )


def _bulkheads_row(ctx: Context) -> Row:
    q = ctx.q
    """The "Bulkheads" row."""
    name = match_var(c.BULKHEAD_NAME, _bulkhead_var(ctx))
    outcome = label(c.BULKHEAD_CALLS, "outcome")
    in_flight, limit = q.selector(c.BULKHEAD_IN_FLIGHT, name), q.selector(c.BULKHEAD_LIMIT, name)
    saturation = f"max{by(ctx.service, c.BULKHEAD_NAME)} ({in_flight} / ({limit} > 0))"
    return Row(
        title="Bulkheads",
        panels=(
            Panel(
                title="In flight and limit",
                description="Calls running inside each bulkhead and its limit, summed over instances.",
                unit="short",
                queries=(
                    Query(
                        q.aggregate("sum", c.BULKHEAD_IN_FLIGHT, name, group=(c.BULKHEAD_NAME,)),
                        f"in flight {legend_of(c.BULKHEAD_NAME)}",
                    ),
                    Query(
                        q.aggregate("sum", c.BULKHEAD_LIMIT, name, group=(c.BULKHEAD_NAME,)),
                        f"limit {legend_of(c.BULKHEAD_NAME)}",
                    ),
                ),
                width=8,
            ),
            Panel(
                title="Saturation",
                description="In flight / limit of the busiest instance; the red line is the alert threshold.",
                unit="percentunit",
                queries=(Query(saturation, legend_of(c.BULKHEAD_NAME)),),
                width=8,
                threshold=ctx.cfg.bulkhead_saturation_ratio,
            ),
            Panel(
                title="Calls by outcome",
                description="Calls admitted and rejected per second (full, queue full or queue wait ran out).",
                unit="ops",
                queries=(
                    Query(
                        q.rate(c.BULKHEAD_CALLS, name, group=(c.BULKHEAD_NAME, outcome)),
                        legend_of(c.BULKHEAD_NAME, outcome),
                    ),
                ),
                width=8,
                stack=True,
            ),
            Panel(
                title="Queued calls",
                description="Calls waiting for a place now, summed over instances.",
                unit="short",
                queries=(
                    Query(
                        q.aggregate("sum", c.BULKHEAD_QUEUED, name, group=(c.BULKHEAD_NAME,)),
                        legend_of(c.BULKHEAD_NAME),
                    ),
                ),
                width=12,
            ),
            Panel(
                title="Queue wait",
                description="How long calls that found the bulkhead full waited; exemplars link to traces.",
                unit="s",
                queries=latency_queries(ctx, c.BULKHEAD_QUEUE_WAIT, name, group=(c.BULKHEAD_NAME,)),
                width=12,
            ),
        ),
    )


def _recovery_row(ctx: Context) -> Row:
    q = ctx.q
    """The "Recovery jobs" row."""
    name = match_var(c.RECOVERY_NAME, _recovery_var(ctx))
    runs = label(c.RECOVERY_RUNS, "outcome")
    items = label(c.RECOVERY_ITEMS, "outcome")
    returned = f"time() - {q.aggregate('max', c.RECOVERY_DEPENDENCY_RETURNED, name, group=(c.RECOVERY_NAME,))}"
    return Row(
        title="Recovery jobs",
        panels=(
            Panel(
                title="Parked backlog",
                description="Items waiting for recovery, read from the service's table at scrape time.",
                unit="short",
                queries=(
                    Query(
                        q.aggregate("max", c.RECOVERY_BACKLOG, name, group=(c.RECOVERY_NAME,)),
                        legend_of(c.RECOVERY_NAME),
                    ),
                ),
                width=8,
            ),
            Panel(
                title="Oldest parked age",
                description="Age of the oldest parked item; it keeps growing while nothing drains.",
                unit="s",
                queries=(
                    Query(
                        q.aggregate("max", c.RECOVERY_OLDEST_PARKED_AGE, name, group=(c.RECOVERY_NAME,)),
                        legend_of(c.RECOVERY_NAME),
                    ),
                ),
                width=8,
            ),
            Panel(
                title="Dependency",
                description="Whether the dependency the parked work waits for is available.",
                unit="none",
                kind="state-timeline",
                queries=(
                    Query(
                        q.aggregate("min", c.RECOVERY_DEPENDENCY_AVAILABLE, name, group=(c.RECOVERY_NAME,)),
                        legend_of(c.RECOVERY_NAME),
                    ),
                ),
                width=8,
                mappings=((0, "down", "red"), (1, "available", "green")),
            ),
            Panel(
                title="Runs by outcome",
                description="Recovery runs per second: everything recovered, some items failed, or the run failed.",
                unit="ops",
                queries=(
                    Query(
                        q.rate(c.RECOVERY_RUNS, name, group=(c.RECOVERY_NAME, runs)), legend_of(c.RECOVERY_NAME, runs)
                    ),
                ),
                width=8,
                stack=True,
            ),
            Panel(
                title="Items by outcome",
                description="Parked items recovered and failed per second, and items parked.",
                unit="ops",
                queries=(
                    Query(
                        q.rate(c.RECOVERY_ITEMS, name, group=(c.RECOVERY_NAME, items)),
                        legend_of(c.RECOVERY_NAME, items),
                    ),
                    Query(
                        q.rate(c.RECOVERY_PARKED, name, group=(c.RECOVERY_NAME,)),
                        f"parked {legend_of(c.RECOVERY_NAME)}",
                    ),
                ),
                width=8,
            ),
            Panel(
                title="Run duration",
                description="Duration of recovery runs; exemplars link to the run's trace.",
                unit="s",
                queries=latency_queries(ctx, c.RECOVERY_RUN_DURATION, name, group=(c.RECOVERY_NAME,)),
                width=8,
            ),
            Panel(
                title="Time since the dependency returned",
                description="Seconds since the dependency last came back, and returns in the interval.",
                unit="s",
                queries=(
                    Query(returned, legend_of(c.RECOVERY_NAME)),
                    Query(
                        q.rate(c.RECOVERY_DEPENDENCY_RETURNS, name, group=(c.RECOVERY_NAME,), fn="increase"),
                        f"returns {legend_of(c.RECOVERY_NAME)}",
                    ),
                ),
                width=24,
            ),
        ),
    )
