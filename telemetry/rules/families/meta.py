"""Degraded mode and the bundle's own health: telemetry gone absent, and the always-firing
Watchdog that proves the alerting pipeline delivers.

Runbook prose: ``meta.md`` next to this module; promtool tests: ``alerts/tests/meta.test.yml``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemetry import catalog as c
from telemetry.rules.model import AlertRule, Family, load_runbooks

if TYPE_CHECKING:
    from telemetry.promql import Builder
    from telemetry.rules.config import RulesConfig

__all__ = ["family"]


def family(q: Builder, cfg: RulesConfig) -> Family:
    """The meta family for ``cfg``; every name in its PromQL comes from the catalog through ``q``."""
    component = c.COMPONENT.prom
    svc = cfg.service_label
    info = c.TELEMETRY_INFO
    return Family(
        name="meta",
        dashboard="overview",
        title="Degraded mode and the telemetry pipeline",
        records=(),
        alerts=(
            AlertRule(
                name="DegradedModeActive",
                expr=f"max {q.by(c.DEGRADED, component)} ({q.series(c.DEGRADED)}) > 0",
                for_=cfg.degraded_for,
                severity="warning",
                summary="A component has run in degraded mode for a long time.",
                description=(
                    f"{{{{ $labels.{component} }}}} of {{{{ $labels.{svc} }}}} has been degraded for more "
                    f"than {cfg.degraded_for}."
                ),
                trace_errors=False,
            ),
            AlertRule(
                name="ResilienceTelemetryAbsent",
                expr=(
                    f"group by ({svc}) (max_over_time({q.series(info)}[{cfg.telemetry_absent_window}]))\n"
                    f"unless\ngroup by ({svc}) ({q.series(info)})"
                ),
                for_=cfg.telemetry_absent_for,
                severity="warning",
                summary="A service stopped exporting its resilience metrics.",
                description=(
                    f"{{{{ $labels.{svc} }}}} exported resilience metrics in the last "
                    f"{cfg.telemetry_absent_window} but exports none now."
                ),
                trace_errors=False,
            ),
            AlertRule(
                name="Watchdog",
                expr=f'label_replace(vector(1), "{svc}", "{cfg.watchdog_service}", "", "")',
                for_="0m",
                severity="info",
                summary="The alerting pipeline works: this alert always fires.",
                description="Watchdog fires while Prometheus evaluates rules and reaches Alertmanager.",
                trace_errors=False,
            ),
        ),
        runbooks=load_runbooks(
            "meta",
            cfg,
            info=info.prom,
        ),
    )
