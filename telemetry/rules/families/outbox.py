"""Transactional-outbox alerts: a stale backlog, a stalled relay, a relay heartbeat gone stale.

Runbook prose: ``outbox.md`` next to this module; promtool tests: ``alerts/tests/outbox.test.yml``.
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


_TABLE = c.OUTBOX_OLDEST_PENDING_AGE.labels[0].prom


def family(q: Builder, cfg: RulesConfig) -> Family:
    """The outbox family for ``cfg``; every name in its PromQL comes from the catalog through ``q``."""
    return Family(
        name="outbox",
        dashboard="outbox-dlq",
        title="Transactional outbox",
        records=(),
        alerts=(
            _stale(q, cfg, "warning", cfg.outbox_age_warning),
            _stale(q, cfg, "critical", cfg.outbox_age_critical),
            _stalled(q, cfg),
            _heartbeat_stale(q, cfg),
        ),
        runbooks=load_runbooks(
            "outbox",
            cfg,
            age_warning=number(cfg.outbox_age_warning),
            age_critical=number(cfg.outbox_age_critical),
            heartbeat_stale=number(cfg.outbox_heartbeat_stale),
        ),
    )


def _stale(q: Builder, cfg: RulesConfig, severity: str, threshold: float) -> AlertRule:
    """One alert name at two severities (Alertmanager mutes the warning while the critical fires
    for the same service and table). ``max``: every replica reads the same table."""
    age = c.OUTBOX_OLDEST_PENDING_AGE
    return AlertRule(
        name="OutboxBacklogStale",
        dashboard_vars=(("outbox_table", _TABLE),),
        expr=f"max {q.by(age, _TABLE)} ({q.series(age)}) > {number(threshold)}",
        for_=cfg.outbox_age_for,
        severity=severity,
        summary="Outbox messages wait too long to be published.",
        description=(
            f"The oldest pending row of {{{{ $labels.{_TABLE} }}}} in {{{{ $labels.{cfg.service_label} }}}} is "
            f"{{{{ $value | humanizeDuration }}}} old (limit {number(threshold)}s, held for {cfg.outbox_age_for})."
        ),
        trace_filters=(),
        trace_errors=False,
    )


def _stalled(q: Builder, cfg: RulesConfig) -> AlertRule:
    """Rows pending at every sample of the window while nothing is published: the relay is stuck
    even if it still polls. Rows pending for a moment between an enqueue and the next poll are
    normal; the window must be covered, so a service that just started does not look stuck."""
    rows, dispatched, svc = c.OUTBOX_ROWS, c.OUTBOX_DISPATCHED, cfg.service_label
    window = cfg.outbox_stall_window
    return AlertRule(
        name="OutboxRelayStalled",
        dashboard_vars=(("outbox_table", _TABLE),),
        expr=(
            f"max {q.by(rows, _TABLE)} (min_over_time({q.series(rows, status='pending')}[{window}])) > 0\n"
            f"and {q.on(rows, _TABLE)}\n{q.covered(rows, window, _TABLE, status='pending')}\n"
            f"unless on ({svc})\n{q.counted(dispatched, window, outcome='published')} > 0"
        ),
        for_=cfg.outbox_stall_for,
        severity="critical",
        summary="The outbox relay publishes nothing while messages are pending.",
        description=(
            f"At least {COUNT_VALUE} rows have been pending in {{{{ $labels.{_TABLE} }}}} of "
            f"{{{{ $labels.{svc} }}}} at every sample of the last {window} and nothing was published "
            f"(held for {cfg.outbox_stall_for})."
        ),
        trace_errors=False,
    )


def _heartbeat_stale(q: Builder, cfg: RulesConfig) -> AlertRule:
    """A heartbeat of 0 means no relay ever polled in this process (a service without a relay,
    or an older package that exported 0): it says nothing about a relay, so it is left out."""
    svc = cfg.service_label
    heartbeat = q.series(c.OUTBOX_RELAY_HEARTBEAT)
    return AlertRule(
        name="OutboxRelayHeartbeatStale",
        expr=f"time() - max by ({svc}) ({heartbeat} > 0) > {number(cfg.outbox_heartbeat_stale)}",
        for_=cfg.outbox_heartbeat_for,
        severity="critical",
        summary="The outbox relay has had no healthy poll for minutes.",
        description=(
            f"The outbox relay of {{{{ $labels.{svc} }}}} last had a healthy poll "
            f"{{{{ $value | humanizeDuration }}}} ago (limit {number(cfg.outbox_heartbeat_stale)}s, "
            f"held for {cfg.outbox_heartbeat_for})."
        ),
        trace_errors=False,
    )
