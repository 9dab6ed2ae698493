"""The toolbox dashboard (``toolbox.json``): timeouts, rate limiters, bulkheads, recovery jobs.

Metric and label names come from the catalog through :mod:`telemetry.promql`; the shared
variables, links and panel helpers are in :mod:`telemetry.dashboards._common`. Thresholds drawn
here are the alerts' own, from the same :class:`telemetry.rules.config.RulesConfig`. Every
series is per service and object (an operation, limit, bulkhead or job): the alerts page per
service, so a panel must show which service's object is bad; per-object panels keep the ten
largest series, readable at 20 instances.
No per-series trace links yet: every link is checked against the spans of a reference run,
which uses none of these four features; the alerts' own trace links cover them.
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
    top,
)
from telemetry.dashboards._grafana import Board, Panel, Query, Row, Variable
from telemetry.dashboards._promql import by, label, ratio
from telemetry.promql import number

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
    """The "Timeouts" row."""
    q, cfg = ctx.q, ctx.cfg
    op = match_var(c.TIMEOUT_OPERATION, _operation_var(ctx))
    group = (ctx.service, c.TIMEOUT_OPERATION)
    outcome = label(c.TIMEOUT_CALLS, "outcome")
    timed_out = q.rate(c.TIMEOUT_CALLS, op, outcome_is(c.TIMEOUT_CALLS, "timeout"), group=group)
    every = q.rate(c.TIMEOUT_CALLS, op, group=group)
    return Row(
        title="Timeouts",
        panels=(
            Panel(
                title="Timed calls by outcome",
                description="Operations run under a time budget, per second, by outcome (timeout: the budget "
                "ran out; top ten).",
                unit="ops",
                queries=(Query(top(q.rate(c.TIMEOUT_CALLS, op, group=(*group, outcome))), legend_of(*group, outcome)),),
                width=8,
                stack=True,
            ),
            Panel(
                title="Timeout ratio",
                description="Share of calls that ran out of their budget (top ten); the red line is the timeout "
                f"alert's threshold ({number(cfg.timeout_ratio * 100)}%, above {number(cfg.timeout_min_rate)} "
                "calls/s).",
                unit="percentunit",
                queries=(Query(top(ratio(timed_out, every)), legend_of(*group)),),
                width=8,
                threshold=cfg.timeout_ratio,
            ),
            Panel(
                title="Elapsed time against the budget",
                description="p50/p95/p99 of the elapsed time and the configured budget; exemplars link to traces.",
                unit="s",
                queries=(
                    *latency_queries(ctx, c.TIMEOUT_DURATION, op, group=group),
                    Query(q.aggregate("max", c.TIMEOUT_BUDGET, op, group=group), f"budget {legend_of(*group)}"),
                ),
                width=8,
            ),
        ),
    )


def _rate_limiting_row(ctx: Context) -> Row:
    """The "Rate limiting" row."""
    q, cfg = ctx.q, ctx.cfg
    limiter = match_var(c.RATELIMIT_LIMITER, _limiter_var(ctx))
    outcome = label(c.RATELIMIT_DECISIONS, "outcome")
    group = (ctx.service, c.RATELIMIT_LIMITER, c.RATELIMIT_LIMIT)
    per_limiter = (ctx.service, c.RATELIMIT_LIMITER)
    rejected = q.rate(c.RATELIMIT_DECISIONS, limiter, outcome_is(c.RATELIMIT_DECISIONS, "rejected"), group=group)
    every = q.rate(c.RATELIMIT_DECISIONS, limiter, group=group)
    # instances on the fallback: the alert's value
    active = q.aggregate("sum", c.RATELIMIT_FALLBACK_ACTIVE, limiter, group=per_limiter)
    errors = q.rate(c.RATELIMIT_STORAGE_ERRORS, limiter, group=(*per_limiter, c.ERROR_TYPE))
    return Row(
        title="Rate limiting",
        panels=(
            Panel(
                title="Decisions by limit",
                description="Requests admitted and rejected per second, by limit (a route or a name, never a "
                "client; top ten).",
                unit="reqps",
                queries=(
                    Query(
                        top(q.rate(c.RATELIMIT_DECISIONS, limiter, group=(*group, outcome))),
                        legend_of(*group, outcome),
                    ),
                ),
                width=8,
                stack=True,
            ),
            Panel(
                title="Rejection ratio",
                description="Share of a limit's requests answered 429 (top ten); the red line is the rejection "
                f"alert's threshold ({number(cfg.ratelimit_rejection_ratio * 100)}%, above "
                f"{number(cfg.ratelimit_min_rate)} requests/s).",
                unit="percentunit",
                queries=(Query(top(ratio(rejected, every)), legend_of(*group)),),
                width=8,
                threshold=cfg.ratelimit_rejection_ratio,
            ),
            Panel(
                title="Instances on the fallback",
                description="Instances whose limiter runs on its fallback (per-process limits) because its "
                f"storage is down; the fallback alert fires after {cfg.ratelimit_fallback_for} above 0.",
                unit="short",
                queries=(Query(top(active), legend_of(*per_limiter)),),
                width=8,
                threshold=1,
            ),
            Panel(
                title="Fallback switches and storage errors",
                description="Switches to the fallback in the interval, and storage errors per second by type "
                "(top ten).",
                unit="short",
                queries=(
                    Query(
                        top(q.rate(c.RATELIMIT_FALLBACK_ACTIVATIONS, limiter, group=per_limiter, fn="increase")),
                        f"switches {legend_of(*per_limiter)}",
                    ),
                    Query(top(f"{errors} or 0 * {active}"), f"errors {legend_of(*per_limiter, c.ERROR_TYPE)}"),
                ),
                width=24,
            ),
        ),
    )


def _bulkheads_row(ctx: Context) -> Row:
    """The "Bulkheads" row."""
    q, cfg = ctx.q, ctx.cfg
    name = match_var(c.BULKHEAD_NAME, _bulkhead_var(ctx))
    group = (ctx.service, c.BULKHEAD_NAME)
    outcome = label(c.BULKHEAD_CALLS, "outcome")
    in_flight, limit = q.selector(c.BULKHEAD_IN_FLIGHT, name), q.selector(c.BULKHEAD_LIMIT, name)
    saturation = f"max{by(*group)} ({in_flight} / ({limit} > 0))"
    return Row(
        title="Bulkheads",
        panels=(
            Panel(
                title="In flight and limit",
                description="Calls running inside each bulkhead and its limit, summed over instances (top ten).",
                unit="short",
                queries=(
                    Query(
                        top(q.aggregate("sum", c.BULKHEAD_IN_FLIGHT, name, group=group)),
                        f"in flight {legend_of(*group)}",
                    ),
                    Query(top(q.aggregate("sum", c.BULKHEAD_LIMIT, name, group=group)), f"limit {legend_of(*group)}"),
                ),
                width=8,
            ),
            Panel(
                title="Saturation",
                description="In flight / limit of the fullest instance (top ten); the red line is the saturation "
                f"alert's threshold ({number(cfg.bulkhead_saturation_ratio * 100)}% for "
                f"{cfg.bulkhead_saturated_for}).",
                unit="percentunit",
                queries=(Query(top(saturation), legend_of(*group)),),
                width=8,
                threshold=cfg.bulkhead_saturation_ratio,
            ),
            Panel(
                title="Bulkhead calls by outcome",
                description="Calls admitted and rejected per second (full, queue full or queue wait ran out; "
                "top ten); any rejection tickets.",
                unit="ops",
                queries=(
                    Query(top(q.rate(c.BULKHEAD_CALLS, name, group=(*group, outcome))), legend_of(*group, outcome)),
                ),
                width=8,
                stack=True,
            ),
            Panel(
                title="Queued calls",
                description="Calls waiting for a place now, summed over instances (top ten).",
                unit="short",
                queries=(Query(top(q.aggregate("sum", c.BULKHEAD_QUEUED, name, group=group)), legend_of(*group)),),
                width=12,
            ),
            Panel(
                title="Queue wait",
                description="How long calls that found the bulkhead full waited; exemplars link to traces.",
                unit="s",
                queries=latency_queries(ctx, c.BULKHEAD_QUEUE_WAIT, name, group=group),
                width=12,
            ),
        ),
    )


def _recovery_row(ctx: Context) -> Row:
    """The "Recovery jobs" row."""
    q, cfg = ctx.q, ctx.cfg
    name = match_var(c.RECOVERY_NAME, _recovery_var(ctx))
    group = (ctx.service, c.RECOVERY_NAME)
    runs = label(c.RECOVERY_RUNS, "outcome")
    items = label(c.RECOVERY_ITEMS, "outcome")
    returned = f"time() - {q.aggregate('max', c.RECOVERY_DEPENDENCY_RETURNED, name, group=group)}"
    return Row(
        title="Recovery jobs",
        panels=(
            Panel(
                title="Parked backlog",
                description="Items waiting for recovery, read from the service's table at scrape time (top ten); "
                f"the drain alert fires when it is no smaller than {cfg.recovery_drain_window} ago although the "
                f"dependency has been back that long.",
                unit="short",
                queries=(Query(top(q.aggregate("max", c.RECOVERY_BACKLOG, name, group=group)), legend_of(*group)),),
                width=8,
            ),
            Panel(
                title="Oldest parked age",
                description="Age of the oldest parked item; it keeps growing while nothing drains (top ten).",
                unit="s",
                queries=(
                    Query(top(q.aggregate("max", c.RECOVERY_OLDEST_PARKED_AGE, name, group=group)), legend_of(*group)),
                ),
                width=8,
            ),
            Panel(
                title="Dependency",
                description="Whether the dependency the parked work waits for is available.",
                unit="none",
                kind="state-timeline",
                queries=(
                    Query(q.aggregate("min", c.RECOVERY_DEPENDENCY_AVAILABLE, name, group=group), legend_of(*group)),
                ),
                width=8,
                mappings=((0, "down", "red"), (1, "available", "green")),
            ),
            Panel(
                title="Runs by outcome",
                description="Recovery runs per second: everything recovered, some items failed, or the run failed "
                f"(top ten); {cfg.recovery_failures} failed runs in {cfg.recovery_failure_window} with none "
                "succeeding tickets.",
                unit="ops",
                queries=(Query(top(q.rate(c.RECOVERY_RUNS, name, group=(*group, runs))), legend_of(*group, runs)),),
                width=8,
                stack=True,
            ),
            Panel(
                title="Items by outcome",
                description="Parked items recovered and failed per second, and items parked (top ten).",
                unit="ops",
                queries=(
                    Query(top(q.rate(c.RECOVERY_ITEMS, name, group=(*group, items))), legend_of(*group, items)),
                    Query(top(q.rate(c.RECOVERY_PARKED, name, group=group)), f"parked {legend_of(*group)}"),
                ),
                width=8,
            ),
            Panel(
                title="Run duration",
                description="Duration of recovery runs; exemplars link to the run's trace.",
                unit="s",
                queries=latency_queries(ctx, c.RECOVERY_RUN_DURATION, name, group=group),
                width=8,
            ),
            Panel(
                title="Time since the dependency returned",
                description="Seconds since the dependency last came back, and returns in the interval (top ten).",
                unit="s",
                queries=(
                    Query(top(returned), legend_of(*group)),
                    Query(
                        top(q.rate(c.RECOVERY_DEPENDENCY_RETURNS, name, group=group, fn="increase")),
                        f"returns {legend_of(*group)}",
                    ),
                ),
                width=24,
            ),
        ),
    )
