"""Dead-letter-queue alerts: messages being dead-lettered, and dead letters left unhandled.

Runbook prose: ``dlq.md`` next to this module; promtool tests: ``alerts/tests/dlq.test.yml``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemetry import catalog as c
from telemetry.promql import number
from telemetry.rules.model import AlertRule, Family, load_runbooks, span

if TYPE_CHECKING:
    from telemetry.promql import Builder
    from telemetry.rules.config import RulesConfig

__all__ = ["family"]


def family(q: Builder, cfg: RulesConfig) -> Family:
    """The dlq family for ``cfg``; every name in its PromQL comes from the catalog through ``q``."""
    queue = c.QUEUE.prom
    dead, oldest = c.DLQ_DEAD_LETTERED, c.DLQ_OLDEST_AGE
    svc = cfg.service_label
    trace = (span(c.QUEUE),)
    return Family(
        name="dlq",
        dashboard="outbox-dlq",
        title="Dead-letter queues",
        records=(),
        alerts=(
            AlertRule(
                name="DeadLetterInflow",
                dashboard_vars=(("queue", queue),),
                expr=(
                    f"sum {q.by(dead, queue)} (increase({q.series(dead)}[{cfg.dlq_inflow_window}]))"
                    f" > {number(cfg.dlq_inflow_threshold)}"
                ),
                for_=cfg.dlq_inflow_for,
                severity="warning",
                summary="Messages are being dead-lettered.",
                description=(
                    f"{{{{ $value | humanize }}}} messages from {{{{ $labels.{queue} }}}} of "
                    f"{{{{ $labels.{svc} }}}} were dead-lettered in the last {cfg.dlq_inflow_window}."
                ),
                trace_filters=trace,
            ),
            AlertRule(
                name="DeadLetterQueueStale",
                dashboard_vars=(("queue", queue),),
                expr=f"max {q.by(oldest, queue)} ({q.series(oldest)}) > {number(cfg.dlq_stale_age)}",
                for_=cfg.dlq_stale_for,
                severity="warning",
                summary="Dead-lettered messages wait unhandled.",
                description=(
                    f"The oldest message in {{{{ $labels.{queue} }}}} of {{{{ $labels.{svc} }}}} is "
                    f"{{{{ $value | humanizeDuration }}}} old."
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
