"""Transactional-outbox alerts: a stale backlog, a stalled relay, a relay heartbeat gone stale.

Runbook prose: ``outbox.md`` next to this module; promtool tests: ``alerts/tests/outbox.test.yml``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemetry import catalog as c
from telemetry.promql import number
from telemetry.rules.model import AlertRule, Family, load_runbooks

if TYPE_CHECKING:
    from telemetry.promql import Builder
    from telemetry.rules.config import RulesConfig

__all__ = ["family"]


def family(q: Builder, cfg: RulesConfig) -> Family:
    """The outbox family for ``cfg``; every name in its PromQL comes from the catalog through ``q``."""
    table = c.OUTBOX_OLDEST_PENDING_AGE.labels[0].prom
    age, rows, dispatched = c.OUTBOX_OLDEST_PENDING_AGE, c.OUTBOX_ROWS, c.OUTBOX_DISPATCHED
    heartbeat = c.OUTBOX_RELAY_HEARTBEAT
    svc = cfg.service_label

    def stale(severity: str, threshold: float) -> AlertRule:
        return AlertRule(
            name="OutboxBacklogStale",
            dashboard_vars=(("outbox_table", table),),
            expr=f"max {q.by(age, table)} ({q.series(age)}) > {number(threshold)}",
            for_=cfg.outbox_age_for,
            severity=severity,
            summary="Outbox messages wait too long to be published.",
            description=(
                f"The oldest pending row of {{{{ $labels.{table} }}}} in {{{{ $labels.{svc} }}}} is "
                f"{{{{ $value | humanizeDuration }}}} old (limit {number(threshold)}s)."
            ),
            trace_filters=(),
            trace_errors=False,
        )

    published = {"outcome": "published"}
    return Family(
        name="outbox",
        dashboard="outbox-dlq",
        title="Transactional outbox",
        records=(),
        alerts=(
            stale("warning", cfg.outbox_age_warning),
            stale("critical", cfg.outbox_age_critical),
            AlertRule(
                name="OutboxRelayStalled",
                dashboard_vars=(("outbox_table", table),),
                expr=(
                    f"max {q.by(rows, table)} ({q.series(rows, status='pending')}) > 0\n"
                    f"unless on ({svc})\nsum by ({svc}) (increase("
                    f"{q.series(dispatched, **published)}[{cfg.outbox_stall_window}])) > 0"
                ),
                for_=cfg.outbox_stall_for,
                severity="critical",
                summary="The outbox relay publishes nothing while messages are pending.",
                description=(
                    f"{{{{ $value | humanize }}}} rows are pending in {{{{ $labels.{table} }}}} of "
                    f"{{{{ $labels.{svc} }}}} and nothing was published in {cfg.outbox_stall_window}."
                ),
                trace_errors=False,
            ),
            AlertRule(
                name="OutboxRelayHeartbeatStale",
                expr=f"time() - max by ({svc}) ({q.series(heartbeat)}) > {number(cfg.outbox_heartbeat_stale)}",
                for_=cfg.outbox_stall_for,
                severity="critical",
                summary="The outbox relay has had no healthy poll for minutes.",
                description=(
                    f"The outbox relay of {{{{ $labels.{svc} }}}} last had a healthy poll "
                    f"{{{{ $value | humanizeDuration }}}} ago."
                ),
                trace_errors=False,
            ),
        ),
        runbooks=load_runbooks(
            "outbox",
            cfg,
            age_warning=number(cfg.outbox_age_warning),
            age_critical=number(cfg.outbox_age_critical),
            heartbeat_stale=number(cfg.outbox_heartbeat_stale),
        ),
    )
