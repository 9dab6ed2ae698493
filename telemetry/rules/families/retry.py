"""Retry alerts: calls that exhaust their attempts, and retries that multiply the load.

Runbook prose: ``retry.md`` next to this module; promtool tests: ``alerts/tests/retry.test.yml``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemetry import catalog as c
from telemetry.promql import number
from telemetry.rules.model import AlertRule, Family, Record, event, load_runbooks, ratio_records

if TYPE_CHECKING:
    from telemetry.promql import Builder
    from telemetry.rules.config import RulesConfig

__all__ = ["family"]


def family(q: Builder, cfg: RulesConfig) -> Family:
    """The retry family for ``cfg``; every name in its PromQL comes from the catalog through ``q``."""
    name = c.RETRY_NAME.prom
    calls, attempts = c.RETRY_CALLS, c.RETRY_ATTEMPTS
    window = cfg.rate_window
    rate, ratio = ratio_records(q, cfg, calls, c.RETRY_NAME, ("exhausted",))
    level = q.level(attempts, name)
    attempts_name = f"{level}:{q.metric(attempts)}:rate{window}"
    amplification_name = f"{level}:{q.metric(attempts)}_per_{q.metric(calls)}:ratio_rate{window}"
    svc = cfg.service_label
    guard = f"and on ({svc}, {name})\n{rate.record} > {number(cfg.retry_min_rate)}"
    who = f"{{{{ $labels.{name} }}}} of {{{{ $labels.{svc} }}}}"
    trace = (event(c.RETRY_NAME),)  # only the retry events name it
    return Family(
        name="retry",
        dashboard="retries",
        title="Retries",
        records=(
            rate,
            ratio,
            Record(record=attempts_name, expr=f"sum {q.by(attempts, name)} (rate({q.series(attempts)}[{window}]))"),
            Record(record=amplification_name, expr=f"{attempts_name}\n/\n{rate.record}"),
        ),
        alerts=(
            AlertRule(
                name="RetryExhaustionRatioHigh",
                dashboard_vars=(("retry", name),),
                expr=f"{ratio.record} > {number(cfg.retry_exhaustion_ratio)}\n{guard}",
                for_=cfg.retry_for,
                severity="warning",
                summary="Many retried calls fail after their last attempt.",
                description=(
                    f"{{{{ $value | humanizePercentage }}}} of the calls of {who} exhausted their retries over "
                    f"the last {window} (limit {number(cfg.retry_exhaustion_ratio * 100)}%, held for {cfg.retry_for})."
                ),
                trace_filters=trace,
            ),
            AlertRule(
                name="RetryAmplificationHigh",
                dashboard_vars=(("retry", name),),
                expr=f"{amplification_name} > {number(cfg.retry_amplification)}\n{guard}",
                for_=cfg.retry_for,
                severity="warning",
                summary="Retries multiply the load on a dependency.",
                description=(
                    f"Calls of {who} took {{{{ $value | humanize }}}} attempts on average over the last {window} "
                    f"(limit {number(cfg.retry_amplification)}, held for {cfg.retry_for})."
                ),
                trace_filters=trace,
                trace_errors=False,
            ),
        ),
        runbooks=load_runbooks(
            "retry",
            cfg,
            exhaustion_percent=number(cfg.retry_exhaustion_ratio * 100),
            min_rate=number(cfg.retry_min_rate),
            amplification=number(cfg.retry_amplification),
        ),
    )
