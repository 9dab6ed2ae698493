"""The retry dashboard: calls by outcome, attempts per call, scheduled retries and backoff.

Metric and label names come from the catalog through :mod:`telemetry.promql`; the shared
variables, links and panel helpers are in :mod:`telemetry.dashboards._common`.
"""

from __future__ import annotations

from telemetry import catalog as c
from telemetry.dashboards._common import component_var, latency_queries, legend_of, make_board, match_var
from telemetry.dashboards._grafana import Board, Panel, Query, Row
from telemetry.dashboards._promql import label, rate

__all__ = ["board"]


def board() -> Board:
    """The retries dashboard, built fresh (descriptions are cheap and immutable)."""
    var = component_var("retry", "Retry", c.RETRY_CALLS, c.RETRY_NAME)
    only = match_var(c.RETRY_NAME, var)
    group = (c.RETRY_NAME,)
    outcome = label(c.RETRY_CALLS, "outcome")
    amplification = f"{rate(c.RETRY_ATTEMPTS, only, group=group)} / {rate(c.RETRY_CALLS, only, group=group)}"
    top_errors = f"topk(10, {rate(c.RETRY_SCHEDULED, only, group=(c.RETRY_NAME, c.ERROR_TYPE))})"
    rows = (
        Row(
            title="Calls",
            panels=(
                Panel(
                    title="Calls by outcome",
                    description="Retried calls by final outcome: first-attempt success, success after retry, "
                    "exhausted, not retryable.",
                    unit="ops",
                    queries=(
                        Query(rate(c.RETRY_CALLS, only, group=(c.RETRY_NAME, outcome)), legend_of(*group, outcome)),
                    ),
                    stack=True,
                ),
                Panel(
                    title="Amplification",
                    description="Attempts per call: 1 means no retries; 3 means the dependency sees three "
                    "times the traffic.",
                    unit="none",
                    queries=(Query(amplification, legend_of(*group)),),
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
                    queries=latency_queries(c.RETRY_ATTEMPTS_PER_CALL, only, group=group),
                    width=8,
                ),
                Panel(
                    title="Backoff per call",
                    description="Total time a call slept between attempts.",
                    unit="s",
                    queries=latency_queries(c.RETRY_BACKOFF, only, group=group),
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
        "rt-retries", "Retries", "Outcomes, attempts, amplification, backoff and errors of retries.", rows, var
    )
