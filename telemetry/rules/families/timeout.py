"""Timeout alerts: an operation runs out of its time budget too often, for a sustained time.

Runbook prose: ``timeout.md`` next to this module; promtool tests: ``alerts/tests/timeout.test.yml``.
Only operations run under ``telemetry.timeout``/``time_budget`` export these series, and their
three outcomes exist at zero from the first call, so a service without them never trips it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemetry import catalog as c
from telemetry.promql import number
from telemetry.rules.model import AlertRule, Family, load_runbooks, ratio_records, span

if TYPE_CHECKING:
    from telemetry.promql import Builder
    from telemetry.rules.config import RulesConfig

__all__ = ["family"]


def family(q: Builder, cfg: RulesConfig) -> Family:
    """The timeout family for ``cfg``; every name in its PromQL comes from the catalog through ``q``."""
    operation, svc = c.TIMEOUT_OPERATION.prom, cfg.service_label
    rate, ratio = ratio_records(q, cfg, c.TIMEOUT_CALLS, c.TIMEOUT_OPERATION, ("timeout",))
    return Family(
        name="timeout",
        dashboard="toolbox",
        title="Timeouts",
        records=(rate, ratio),
        alerts=(
            AlertRule(
                name="OperationTimeoutRatioHigh",
                dashboard_vars=(("operation", operation),),
                expr=(
                    f"{ratio.record} > {number(cfg.timeout_ratio)}\n"
                    f"and {q.on(c.TIMEOUT_CALLS, operation)}\n{rate.record} > {number(cfg.timeout_min_rate)}"
                ),
                for_=cfg.timeout_for,
                severity="warning",
                summary=(
                    f"An operation runs out of its time budget in more than {number(cfg.timeout_ratio * 100)}% "
                    "of its calls."
                ),
                description=(
                    f"{{{{ $value | humanizePercentage }}}} of the calls of {{{{ $labels.{operation} }}}} in "
                    f"{{{{ $labels.{svc} }}}} timed out over the last {cfg.rate_window} "
                    f"(limit {number(cfg.timeout_ratio * 100)}%, held for {cfg.timeout_for})."
                ),
                trace_filters=(span(c.TIMEOUT_OPERATION),),
                trace_errors=False,
            ),
        ),
        runbooks=load_runbooks(
            "timeout",
            cfg,
            percent=number(cfg.timeout_ratio * 100),
            min_rate=number(cfg.timeout_min_rate),
        ),
    )
