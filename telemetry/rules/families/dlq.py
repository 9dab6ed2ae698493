"""Dead-letter-queue alerts: messages being dead-lettered, and dead letters left unhandled.

Runbook prose: ``dlq.md`` next to this module; promtool tests: ``alerts/tests/dlq.test.yml``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemetry import catalog as c
from telemetry.promql import number
from telemetry.rules.model import COUNT_VALUE, AlertRule, Family, load_runbooks

if TYPE_CHECKING:
    from telemetry.promql import Builder
    from telemetry.rules.config import RulesConfig

__all__ = ["family"]


def family(q: Builder, cfg: RulesConfig) -> Family:
    """The dlq family for ``cfg``; every name in its PromQL comes from the catalog through ``q``."""
    queue = c.QUEUE.prom
    dead, oldest = c.DLQ_DEAD_LETTERED, c.DLQ_OLDEST_AGE
    svc = cfg.service_label
    trace = ((f"span.{c.DESTINATION.name}", queue),)
    return Family(
        name="dlq",
        dashboard="outbox-dlq",
        title="Dead-letter queues",
        records=(),
        alerts=(
            AlertRule(
                name="DeadLetterInflow",
                dashboard_vars=(("queue", queue),),
                # counted(): the first dead letter of a new error type is the one that matters most
                expr=f"{q.counted(dead, cfg.dlq_inflow_window, queue)}\n> {number(cfg.dlq_inflow_threshold)}",
                for_=cfg.dlq_inflow_for,
                severity="warning",
                summary="Messages are being dead-lettered.",
                description=(
                    f"{COUNT_VALUE} messages from {{{{ $labels.{queue} }}}} of "
                    f"{{{{ $labels.{svc} }}}} were dead-lettered in the last {cfg.dlq_inflow_window} "
                    f"(limit {number(cfg.dlq_inflow_threshold)}, held for {cfg.dlq_inflow_for})."
                ),
                trace_filters=trace,
            ),
            AlertRule(
                name="DeadLetterQueueStale",
                # its `queue` label is the dead-letter queue: the dashboard's `dlq` variable
                dashboard_vars=(("dlq", queue),),
                expr=f"max {q.by(oldest, queue)} ({q.series(oldest)}) > {number(cfg.dlq_stale_age)}",
                for_=cfg.dlq_stale_for,
                severity="warning",
                summary="Dead-lettered messages wait unhandled.",
                description=(
                    f"The oldest message in {{{{ $labels.{queue} }}}} of {{{{ $labels.{svc} }}}} is "
                    f"{{{{ $value | humanizeDuration }}}} old (limit {number(cfg.dlq_stale_age)}s, "
                    f"held for {cfg.dlq_stale_for})."
                ),
                trace_filters=trace,
                trace_errors=False,
            ),
        ),
        runbooks=load_runbooks(
            "dlq",
            cfg,
            inflow_threshold=number(cfg.dlq_inflow_threshold),
            stale_age=number(cfg.dlq_stale_age),
        ),
    )
