"""The outbox and dead-letter-queue dashboard (``outbox-dlq.json``): backlog, relay, dead letters.

Two queue variables, because the metrics name two different queues: ``queue`` is the queue a
message was consumed from and died in (dead-letter inflow and consumer outcomes are labelled
with it, and so is the ``DeadLetterInflow`` alert), ``dlq`` is the dead-letter queue itself
(depth, oldest age and redrives, and the ``DeadLetterQueueStale`` alert). The outbox gauges
are read by every replica from the same table, so they are combined with ``max``, never summed.
Metric and label names come from the catalog through :mod:`telemetry.promql`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemetry import catalog as c
from telemetry.dashboards._common import (
    TABLE,
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
from telemetry.dashboards._promql import label
from telemetry.promql import number

if TYPE_CHECKING:
    from telemetry.rules.config import RulesConfig

__all__ = ["board"]


def _table_var(ctx: Context) -> Variable:
    return component_var(ctx, "outbox_table", "Outbox table", c.OUTBOX_OLDEST_PENDING_AGE, TABLE)


def _queue_var(ctx: Context) -> Variable:
    return component_var(
        ctx,
        "queue",
        "Source queue",
        c.DLQ_DEAD_LETTERED,
        c.QUEUE,
        "Queues consumers read from: dead-letter inflow and consumer outcomes are labelled with the source queue.",
    )


def _dlq_var(ctx: Context) -> Variable:
    return component_var(
        ctx,
        "dlq",
        "Dead-letter queue",
        c.DLQ_DEPTH,
        c.QUEUE,
        "Dead-letter queues: depth, oldest age and redrives are labelled with the dead-letter queue.",
    )


def board(cfg: RulesConfig) -> Board:
    """The queues dashboard for ``cfg``, built fresh (descriptions are cheap and immutable)."""
    ctx = Context.of(cfg)
    return make_board(
        ctx,
        "outbox-dlq",
        "Outbox and DLQ",
        "Transactional outbox backlog, lag and relay health; dead-letter inflow, depth, age and redrives.",
        (_outbox_row(ctx), _dead_letter_queues_row(ctx)),
        _table_var(ctx),
        _queue_var(ctx),
        _dlq_var(ctx),
    )


def _outbox_row(ctx: Context) -> Row:
    cfg, q, svc = ctx.cfg, ctx.q, ctx.service
    table = match_var(TABLE, _table_var(ctx))
    status = label(c.OUTBOX_ROWS, "status")
    dispatch_outcome = label(c.OUTBOX_DISPATCHED, "outcome")
    # a relay that never polled reports 0; it is not "56 years stale"
    beat = f"{q.aggregate('max', c.OUTBOX_RELAY_HEARTBEAT, group=(svc, ctx.q.instance))} > 0"
    return Row(
        title="Outbox",
        panels=(
            Panel(
                title="Backlog",
                description="Outbox rows by status, read from the outbox table at scrape time (every replica "
                "reads the same table: the highest reading, not the sum).",
                unit="short",
                queries=(
                    Query(
                        q.aggregate("max", c.OUTBOX_ROWS, table, group=(svc, TABLE, status)), legend_of(TABLE, status)
                    ),
                ),
                width=8,
                stack=True,
            ),
            Panel(
                title="Oldest pending age",
                description="Age of the oldest pending row; it grows when the relay is behind or stuck. "
                f"Orange and red lines: the backlog alerts ({number(cfg.outbox_age_warning)}s, "
                f"{number(cfg.outbox_age_critical)}s).",
                unit="s",
                queries=(
                    Query(q.aggregate("max", c.OUTBOX_OLDEST_PENDING_AGE, table, group=(svc, TABLE)), legend_of(TABLE)),
                ),
                steps=((cfg.outbox_age_warning, "orange"), (cfg.outbox_age_critical, "red")),
                width=8,
            ),
            Panel(
                title="Relay heartbeat age",
                description="Seconds since each relay's last completed poll (instances running a relay only); "
                "a rising line is a stalled relay, the red line the stall alert "
                f"({number(cfg.outbox_heartbeat_stale)}s).",
                unit="s",
                queries=(Query(top(f"time() - ({beat})"), legend_of(ctx.q.instance)),),
                threshold=cfg.outbox_heartbeat_stale,
                width=8,
            ),
            Panel(
                title="Delivery lag",
                description="Time from an outbox row's creation to its publication; exemplars link to the relay trace.",
                unit="s",
                queries=latency_queries(ctx, c.OUTBOX_DELIVERY_LAG, group=(svc, c.DESTINATION)),
                width=8,
            ),
            Panel(
                title="Dispatch outcomes",
                description="Relay dispatch attempts by destination and outcome (top ten).",
                unit="cps",
                queries=(
                    Query(
                        top(q.rate(c.OUTBOX_DISPATCHED, group=(svc, c.DESTINATION, dispatch_outcome))),
                        legend_of(c.DESTINATION, dispatch_outcome),
                    ),
                ),
                width=8,
                stack=True,
            ),
            Panel(
                title="Enqueued",
                description="Messages written to the outbox (counted after commit), by destination (top ten).",
                unit="cps",
                queries=(Query(top(q.rate(c.OUTBOX_ENQUEUED, group=(svc, c.DESTINATION))), legend_of(c.DESTINATION)),),
                width=8,
            ),
            Panel(
                title="Batch size",
                description="Rows the relay claimed per poll (p50, p95).",
                unit="short",
                queries=(
                    Query(q.quantile(0.5, c.OUTBOX_BATCH_SIZE, group=(svc,)), "p50"),
                    Query(q.quantile(0.95, c.OUTBOX_BATCH_SIZE, group=(svc,)), "p95"),
                ),
            ),
            Panel(
                title="Backlog reading",
                description="Whether the backlog values are fresh or a cached reading (the table query failed).",
                unit="none",
                kind="state-timeline",
                queries=(
                    Query(q.aggregate("max", c.OUTBOX_BACKLOG_STALE, table, group=(svc, TABLE)), legend_of(TABLE)),
                ),
                mappings=((0, "fresh", "green"), (1, "stale", "orange")),
            ),
        ),
    )


def _dead_letter_queues_row(ctx: Context) -> Row:
    cfg, q, svc = ctx.cfg, ctx.q, ctx.service
    source = match_var(c.QUEUE, _queue_var(ctx))
    dlq = match_var(c.QUEUE, _dlq_var(ctx))
    reason = label(c.DLQ_DEAD_LETTERED, "reason")
    return Row(
        title="Dead-letter queues",
        panels=(
            Panel(
                title="DLQ inflow by source queue",
                description="Messages dead-lettered per second, by the queue they died in and the reason "
                "(the `queue` variable; top ten).",
                unit="cps",
                queries=(
                    Query(
                        top(q.rate(c.DLQ_DEAD_LETTERED, source, group=(svc, c.QUEUE, reason))),
                        legend_of(c.QUEUE, reason),
                    ),
                ),
                width=8,
                stack=True,
                links=object_links(ctx, c.QUEUE),
            ),
            Panel(
                title="DLQ depth",
                description="Messages waiting in each dead-letter queue (the `dlq` variable; every replica "
                "reads the same queue: the highest reading).",
                unit="short",
                queries=(Query(q.aggregate("max", c.DLQ_DEPTH, dlq, group=(svc, c.QUEUE)), legend_of(c.QUEUE)),),
                width=8,
            ),
            Panel(
                title="DLQ oldest message age",
                description="Age of the oldest dead-lettered message; nobody is draining the queue when it "
                f"grows. Red line: the stale-DLQ alert ({number(cfg.dlq_stale_age)}s).",
                unit="s",
                queries=(Query(q.aggregate("max", c.DLQ_OLDEST_AGE, dlq, group=(svc, c.QUEUE)), legend_of(c.QUEUE)),),
                threshold=cfg.dlq_stale_age,
                width=8,
            ),
            Panel(
                title="Redrives",
                description="Messages moved from a dead-letter queue back to their queue, by outcome.",
                unit="cps",
                queries=(
                    Query(
                        q.rate(c.DLQ_REDRIVES, dlq, group=(svc, c.QUEUE, label(c.DLQ_REDRIVES, "outcome"))),
                        legend_of(c.QUEUE, label(c.DLQ_REDRIVES, "outcome")),
                    ),
                ),
            ),
            Panel(
                title="Consumer outcomes",
                description="Messages consumers handled: success, retry, dead-lettered, duplicate (top ten).",
                unit="cps",
                queries=(
                    Query(
                        top(
                            q.rate(
                                c.CONSUMER_MESSAGES, source, group=(svc, c.QUEUE, label(c.CONSUMER_MESSAGES, "outcome"))
                            )
                        ),
                        legend_of(c.QUEUE, label(c.CONSUMER_MESSAGES, "outcome")),
                    ),
                ),
                stack=True,
            ),
        ),
    )
