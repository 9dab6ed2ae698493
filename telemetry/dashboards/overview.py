"""The service overview: HTTP RED panels and one summary row per resilience area.

Metric and label names come from the catalog through :mod:`telemetry.promql`; the shared
variables, links and panel helpers are in :mod:`telemetry.dashboards._common`.
"""

from __future__ import annotations

from telemetry import catalog as c
from telemetry.dashboards._common import (
    DEPENDENCY_FAILURE_RATIO_THRESHOLD,
    HTTP,
    POOL_SATURATION_THRESHOLD,
    ROUTE,
    STATUS,
    latency_queries,
    legend_of,
    make_board,
    outcome_is,
)
from telemetry.dashboards._grafana import Board, Panel, Query, Row
from telemetry.dashboards._promql import INSTANCE, Matcher, aggregate, label, rate, ratio, value

__all__ = ["board"]


def board() -> Board:
    """The overview dashboard, built fresh (descriptions are cheap and immutable)."""
    rows = (
        _requests_red_row(),
        _resilience_at_a_glance_row(),
        _alerts_and_telemetry_row(),
    )
    return make_board(
        "rt-overview",
        "Service overview",
        "RED signals, active alerts and the health of every resilience mechanism on one screen.",
        rows,
    )


def _requests_red_row() -> Row:
    """The "Requests (RED)" row."""
    requests = rate(HTTP, group=(), part="count")
    errors = rate(HTTP, Matcher(STATUS, "=~", "5.."), part="count")
    return Row(
        title="Requests (RED)",
        panels=(
            Panel(
                title="Request rate",
                description="HTTP requests per second by route template.",
                unit="reqps",
                queries=(Query(rate(HTTP, group=(ROUTE,), part="count"), legend_of(ROUTE)),),
                width=8,
            ),
            Panel(
                title="Error ratio",
                description="Share of HTTP requests answered with a 5xx status.",
                unit="percentunit",
                queries=(Query(ratio(errors, requests), "5xx ratio"),),
                width=8,
                threshold=0.05,
            ),
            Panel(
                title="Latency",
                description="HTTP request duration percentiles; exemplar dots link to the traces behind them.",
                unit="s",
                queries=latency_queries(HTTP),
                width=8,
            ),
        ),
    )


def _resilience_at_a_glance_row() -> Row:
    """The "Resilience at a glance" row."""
    used = aggregate(
        "sum",
        c.DB_CLIENT_CONNECTION_COUNT,
        Matcher(label(c.DB_CLIENT_CONNECTION_COUNT, "db.client.connection.state"), "=", "used"),
        group=(INSTANCE, c.POOL_NAME),
    )
    pool_max = aggregate("sum", c.DB_CLIENT_CONNECTION_MAX, group=(INSTANCE, c.POOL_NAME))
    dep_all = rate(c.DEPENDENCY_OPERATIONS, group=(c.DEPENDENCY,))
    dep_failed = rate(
        c.DEPENDENCY_OPERATIONS, outcome_is(c.DEPENDENCY_OPERATIONS, "success", "!="), group=(c.DEPENDENCY,)
    )
    return Row(
        title="Resilience at a glance",
        panels=(
            Panel(
                title="Breakers not closed",
                description="Circuit breakers currently open or half-open (one-hot state).",
                unit="short",
                kind="stat",
                queries=(
                    Query(
                        aggregate(
                            "sum", c.CIRCUIT_STATE, Matcher(c.BREAKER_STATE, "!=", value(c.BREAKER_STATE, "closed"))
                        ),
                        "not closed",
                    ),
                ),
                width=4,
                height=5,
                threshold=1,
            ),
            Panel(
                title="Pool saturation",
                description="Highest used / max connections across pools and instances.",
                unit="percentunit",
                kind="stat",
                queries=(Query(f"max({used} / {pool_max})", "saturation"),),
                width=4,
                height=5,
                threshold=POOL_SATURATION_THRESHOLD,
            ),
            Panel(
                title="Dependency failure ratio",
                description="Share of failed dependency operations (S3 and others) per dependency.",
                unit="percentunit",
                kind="stat",
                queries=(Query(ratio(dep_failed, dep_all), legend_of(c.DEPENDENCY)),),
                width=4,
                height=5,
                threshold=DEPENDENCY_FAILURE_RATIO_THRESHOLD,
            ),
            Panel(
                title="Outbox oldest pending",
                description="Age of the oldest pending outbox row; growth means the relay is behind or stuck.",
                unit="s",
                kind="stat",
                queries=(Query(aggregate("max", c.OUTBOX_OLDEST_PENDING_AGE), "oldest"),),
                width=4,
                height=5,
                threshold=300,
            ),
            Panel(
                title="DLQ inflow",
                description="Messages dead-lettered per second, all queues.",
                unit="cps",
                kind="stat",
                queries=(Query(rate(c.DLQ_DEAD_LETTERED), "inflow"),),
                width=4,
                height=5,
                threshold=0.01,
            ),
            Panel(
                title="Degraded components",
                description="Components running in degraded mode right now.",
                unit="short",
                kind="stat",
                queries=(Query(aggregate("sum", c.DEGRADED), "degraded"),),
                width=4,
                height=5,
                threshold=1,
            ),
        ),
    )


def _alerts_and_telemetry_row() -> Row:
    """The "Alerts and telemetry" row."""
    sink = label(c.TELEMETRY_SINK_ERRORS, "sink")
    overflow = label(c.TELEMETRY_LABEL_OVERFLOWS, "label")
    signal = label(c.TELEMETRY_EXPORT_DROPPED, "signal")
    version = label(c.TELEMETRY_INFO, "version")
    return Row(
        title="Alerts and telemetry",
        panels=(
            Panel(
                title="Active alerts",
                description="Firing and pending alerts of the selected services.",
                unit="none",
                kind="alertlist",
            ),
            Panel(
                title="Telemetry errors",
                description=(
                    "Exceptions swallowed by the telemetry sinks, label values folded into _OTHER, and spans"
                    " and log records lost on the way to the OTLP endpoint (queue full or export failed)."
                ),
                unit="ops",
                queries=(
                    Query(rate(c.TELEMETRY_SINK_ERRORS, group=(sink,)), f"sink {legend_of(sink)}"),
                    Query(rate(c.TELEMETRY_LABEL_OVERFLOWS, group=(overflow,)), f"overflow {legend_of(overflow)}"),
                    Query(rate(c.TELEMETRY_EXPORT_DROPPED, group=(signal,)), f"dropped {legend_of(signal)}"),
                ),
                width=8,
            ),
            Panel(
                title="Instances reporting",
                description="Instances exposing resilience telemetry, by package version.",
                unit="short",
                kind="stat",
                queries=(
                    Query(
                        aggregate("count", c.TELEMETRY_INFO, group=(version,)),
                        legend_of(version),
                    ),
                ),
                width=4,
            ),
        ),
    )
