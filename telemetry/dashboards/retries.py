"""The retry dashboard: calls by outcome, exhaustion and amplification against the alerts'
thresholds, attempts per call, backoff and error types.

Metric and label names come from the catalog through :mod:`telemetry.promql`.
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
    top,
)
from telemetry.dashboards._grafana import Board, Panel, Query, Row
from telemetry.dashboards._promql import label, ratio
from telemetry.promql import number

if TYPE_CHECKING:
    from telemetry.rules.config import RulesConfig

__all__ = ["board"]


def board(cfg: RulesConfig) -> Board:
    """The retries dashboard for ``cfg``, built fresh (descriptions are cheap and immutable)."""
    ctx = Context.of(cfg)
    q, svc = ctx.q, ctx.service
    var = component_var(ctx, "retry", "Retry", c.RETRY_CALLS, c.RETRY_NAME)
    only = match_var(c.RETRY_NAME, var)
    group = (svc, c.RETRY_NAME)
    outcome = label(c.RETRY_CALLS, "outcome")
    calls = q.rate(c.RETRY_CALLS, only, group=group)
    exhausted = q.rate(c.RETRY_CALLS, only, outcome_is(c.RETRY_CALLS, "exhausted"), group=group)
    amplification = f"{q.rate(c.RETRY_ATTEMPTS, only, group=group)} / {calls}"
    top_errors = top(q.rate(c.RETRY_SCHEDULED, only, group=(*group, c.ERROR_TYPE)))
    rows = (
        Row(
            title="Calls",
            panels=(
                Panel(
                    title="Calls by outcome",
                    description="Retried calls by final outcome: first-attempt success, success after retry, "
                    "exhausted, not retryable (top ten).",
                    unit="ops",
                    queries=(
                        Query(
                            top(q.rate(c.RETRY_CALLS, only, group=(*group, outcome))), legend_of(c.RETRY_NAME, outcome)
                        ),
                    ),
                    width=8,
                    stack=True,
                ),
                Panel(
                    title="Exhaustion ratio",
                    description="Share of calls that gave up after the last attempt; the red line is the "
                    f"exhaustion alert's threshold ({number(cfg.retry_exhaustion_ratio * 100)}%).",
                    unit="percentunit",
                    queries=(Query(top(ratio(exhausted, calls)), legend_of(c.RETRY_NAME)),),
                    threshold=cfg.retry_exhaustion_ratio,
                    links=object_links(ctx, c.RETRY_NAME),
                    width=8,
                ),
                Panel(
                    title="Amplification",
                    description="Attempts per call: 1 means no retries; 3 means the dependency sees three "
                    f"times the traffic. The red line is the amplification alert ({number(cfg.retry_amplification)}).",
                    unit="none",
                    queries=(Query(top(amplification), legend_of(c.RETRY_NAME)),),
                    threshold=cfg.retry_amplification,
                    width=8,
                ),
            ),
        ),
        Row(
            title="Attempts and backoff",
            panels=(
                Panel(
                    title="Attempts per call",
                    description="Attempts a call needed before it finished, whatever the outcome.",
                    unit="short",
                    queries=latency_queries(ctx, c.RETRY_ATTEMPTS_PER_CALL, only, group=group),
                    width=8,
                ),
                Panel(
                    title="Backoff per call",
                    description="Total time a call slept between attempts.",
                    unit="s",
                    queries=latency_queries(ctx, c.RETRY_BACKOFF, only, group=group),
                    width=8,
                ),
                Panel(
                    title="Top error types",
                    description="The ten error types causing the most retries (bounded `error.type`).",
                    unit="ops",
                    queries=(Query(top_errors, legend_of(c.RETRY_NAME, c.ERROR_TYPE)),),
                    width=8,
                ),
            ),
        ),
    )
    return make_board(
        ctx, "retries", "Retries", "Outcomes, attempts, amplification, backoff and errors of retries.", rows, var
    )
