"""Bulkhead alerts: a bulkhead saturated for a sustained time, and calls being rejected.

Runbook prose: ``bulkhead.md`` next to this module; promtool tests: ``alerts/tests/bulkhead.test.yml``.
A bulkhead's limit, in-flight gauge and both outcomes exist at zero from its creation; a service
without bulkheads exports none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemetry import catalog as c
from telemetry.promql import number
from telemetry.rules.model import COUNT_VALUE, AlertRule, Family, load_runbooks, span

if TYPE_CHECKING:
    from telemetry.promql import Builder
    from telemetry.rules.config import RulesConfig

__all__ = ["family"]


def family(q: Builder, cfg: RulesConfig) -> Family:
    """The bulkhead family for ``cfg``; every name in its PromQL comes from the catalog through ``q``."""
    name, svc = c.BULKHEAD_NAME.prom, cfg.service_label
    in_flight, limit, calls = c.BULKHEAD_IN_FLIGHT, c.BULKHEAD_LIMIT, c.BULKHEAD_CALLS
    return Family(
        name="bulkhead",
        dashboard="toolbox",
        title="Bulkheads",
        records=(),
        alerts=(
            AlertRule(
                name="BulkheadSaturated",
                dashboard_vars=(("bulkhead", name),),
                # Per instance (each process has its own places), the worst one; a zero limit never matches.
                expr=(
                    f"max {q.by(in_flight, name)} (\n  {q.series(in_flight)}\n  / ({q.series(limit)} > 0)\n)"
                    f" >= {number(cfg.bulkhead_saturation_ratio)}"
                ),
                for_=cfg.bulkhead_saturated_for,
                severity="warning",
                summary=(
                    f"A bulkhead has had more than {number(cfg.bulkhead_saturation_ratio * 100)}% of its places "
                    "taken for a sustained time."
                ),
                description=(
                    f"Bulkhead {{{{ $labels.{name} }}}} of {{{{ $labels.{svc} }}}} has run at "
                    f"{{{{ $value | humanizePercentage }}}} of its limit on its fullest instance for "
                    f"{cfg.bulkhead_saturated_for} (limit {number(cfg.bulkhead_saturation_ratio * 100)}%)."
                ),
                trace_filters=(span(c.BULKHEAD_NAME),),
                trace_errors=False,
            ),
            AlertRule(
                name="BulkheadRejecting",
                dashboard_vars=(("bulkhead", name),),
                expr=(
                    f"round({q.counted(calls, cfg.bulkhead_rejections_window, name, outcome='rejected')}) "
                    f"> {number(cfg.bulkhead_rejections_threshold)}"
                ),
                for_=cfg.bulkhead_rejections_for,
                severity="warning",
                summary="A bulkhead rejects calls.",
                description=(
                    f"Bulkhead {{{{ $labels.{name} }}}} of {{{{ $labels.{svc} }}}} rejected {COUNT_VALUE} "
                    f"calls in the last {cfg.bulkhead_rejections_window} "
                    f"(limit {number(cfg.bulkhead_rejections_threshold)}, held for {cfg.bulkhead_rejections_for})."
                ),
                trace_filters=(span(c.BULKHEAD_NAME),),
            ),
        ),
        runbooks=load_runbooks(
            "bulkhead",
            cfg,
            percent=number(cfg.bulkhead_saturation_ratio * 100),
            threshold=number(cfg.bulkhead_rejections_threshold),
        ),
    )
