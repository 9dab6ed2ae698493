"""The outbox and dead-letter-queue dashboard (``outbox-dlq.json``): backlog, relay, dead letters.

Metric and label names come from the catalog through :mod:`telemetry.promql`; the shared
variables, links and panel helpers are in :mod:`telemetry.dashboards._common`.
"""

from __future__ import annotations

from telemetry import catalog as c
from telemetry.dashboards._common import TABLE, component_var, latency_queries, legend_of, make_board, match_var
from telemetry.dashboards._grafana import Board, Panel, Query, Row
from telemetry.dashboards._promql import INSTANCE, aggregate, label, quantile, rate

__all__ = ["board"]


def board() -> Board:
    """The queues dashboard, built fresh (descriptions are cheap and immutable)."""
    table_var = component_var("outbox_table", "Outbox table", c.OUTBOX_OLDEST_PENDING_AGE, TABLE)
    queue_var = component_var("queue", "Queue", c.DLQ_DEPTH, c.QUEUE)
    rows = (
        _outbox_row(),
        _dead_letter_queues_row(),
    )
    return make_board(
        "rt-outbox-dlq",
        "Outbox and DLQ",
        "Transactional outbox backlog, lag and relay health; dead-letter inflow, depth, age and redrives.",
        rows,
        table_var,
        queue_var,
    )


def _outbox_row() -> Row:
    """The "Outbox" row."""
    table_var = component_var("outbox_table", "Outbox table", c.OUTBOX_OLDEST_PENDING_AGE, TABLE)
    table = match_var(TABLE, table_var)
    status = label(c.OUTBOX_ROWS, "status")
    dispatch_outcome = label(c.OUTBOX_DISPATCHED, "outcome")
    heartbeat_age = f"time() - {aggregate('max', c.OUTBOX_RELAY_HEARTBEAT, group=(INSTANCE,))}"
    return Row(
        title="Outbox",
        panels=(
            Panel(
                title="Backlog",
                description="Outbox rows by status, read from the outbox table at scrape time.",
                unit="short",
                queries=(
                    Query(aggregate("sum", c.OUTBOX_ROWS, table, group=(TABLE, status)), legend_of(TABLE, status)),
                ),
                width=8,
                stack=True,
            ),
            Panel(
                title="Oldest pending age",
                description="Age of the oldest pending row; it grows when the relay is behind or stuck.",
                unit="s",
                queries=(
                    Query(aggregate("max", c.OUTBOX_OLDEST_PENDING_AGE, table, group=(TABLE,)), legend_of(TABLE)),
                ),
                width=8,
            ),
            Panel(
                title="Relay heartbeat age",
                description="Seconds since the relay's last completed poll; a rising line is a stalled relay.",
                unit="s",
                queries=(Query(heartbeat_age, legend_of(INSTANCE)),),
                width=8,
            ),
            Panel(
                title="Delivery lag",
                description="Time from an outbox row's creation to its publication; exemplars link to the relay trace.",
                unit="s",
                queries=latency_queries(c.OUTBOX_DELIVERY_LAG, group=(c.DESTINATION,)),
                width=8,
            ),
            Panel(
                title="Dispatch outcomes",
                description="Relay dispatch attempts by destination and outcome.",
                unit="cps",
                queries=(
                    Query(
                        rate(c.OUTBOX_DISPATCHED, group=(c.DESTINATION, dispatch_outcome)),
                        legend_of(c.DESTINATION, dispatch_outcome),
                    ),
                ),
                width=8,
                stack=True,
            ),
            Panel(
                title="Enqueued",
                description="Messages written to the outbox (counted after commit), by destination.",
                unit="cps",
                queries=(Query(rate(c.OUTBOX_ENQUEUED, group=(c.DESTINATION,)), legend_of(c.DESTINATION)),),
                width=8,
            ),
            Panel(
                title="Batch size",
                description="Rows the relay claimed per poll (p50, p95).",
                unit="short",
                queries=(
                    Query(quantile(0.5, c.OUTBOX_BATCH_SIZE), "p50"),
                    Query(quantile(0.95, c.OUTBOX_BATCH_SIZE), "p95"),
                ),
            ),
            Panel(
                title="Backlog reading",
                description="Whether the backlog values are fresh or a cached reading (the table query failed).",
                unit="none",
                kind="state-timeline",
                queries=(Query(aggregate("max", c.OUTBOX_BACKLOG_STALE, table, group=(TABLE,)), legend_of(TABLE)),),
                mappings=((0, "fresh", "green"), (1, "stale", "orange")),
            ),
        ),
    )


def _dead_letter_queues_row() -> Row:
    """The "Dead-letter queues" row."""
    queue_var = component_var("queue", "Queue", c.DLQ_DEPTH, c.QUEUE)
    queue = match_var(c.QUEUE, queue_var)
    reason = label(c.DLQ_DEAD_LETTERED, "reason")
    return Row(
        title="Dead-letter queues",
        panels=(
            Panel(
                title="DLQ inflow by reason",
                description="Messages dead-lettered per second, by source queue and reason.",
                unit="cps",
                queries=(Query(rate(c.DLQ_DEAD_LETTERED, queue, group=(c.QUEUE, reason)), legend_of(c.QUEUE, reason)),),
                width=8,
                stack=True,
            ),
            Panel(
                title="DLQ depth",
                description="Messages waiting in each dead-letter queue.",
                unit="short",
                queries=(Query(aggregate("max", c.DLQ_DEPTH, queue, group=(c.QUEUE,)), legend_of(c.QUEUE)),),
                width=8,
            ),
            Panel(
                title="DLQ oldest message age",
                description="Age of the oldest dead-lettered message; nobody is draining the queue when it grows.",
                unit="s",
                queries=(Query(aggregate("max", c.DLQ_OLDEST_AGE, queue, group=(c.QUEUE,)), legend_of(c.QUEUE)),),
                width=8,
            ),
            Panel(
                title="Redrives",
                description="Messages moved from a dead-letter queue back to their queue, by outcome.",
                unit="cps",
                queries=(
                    Query(
                        rate(c.DLQ_REDRIVES, queue, group=(c.QUEUE, label(c.DLQ_REDRIVES, "outcome"))),
                        legend_of(c.QUEUE, label(c.DLQ_REDRIVES, "outcome")),
                    ),
                ),
            ),
            Panel(
                title="Consumer outcomes",
                description="Messages consumers handled: success, retry, dead-lettered, duplicate.",
                unit="cps",
                queries=(
                    Query(
                        rate(c.CONSUMER_MESSAGES, queue, group=(c.QUEUE, label(c.CONSUMER_MESSAGES, "outcome"))),
                        legend_of(c.QUEUE, label(c.CONSUMER_MESSAGES, "outcome")),
                    ),
                ),
                stack=True,
            ),
        ),
    )
