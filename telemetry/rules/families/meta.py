"""Degraded mode and the bundle's own health: telemetry gone absent, and the always-firing
Watchdog that proves the alerting pipeline delivers.

Runbook prose: ``meta.md`` next to this module; promtool tests: ``alerts/tests/meta.test.yml``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemetry import catalog as c
from telemetry.promql import number
from telemetry.rules.model import AlertRule, Family, Record, load_runbooks

if TYPE_CHECKING:
    from telemetry.promql import Builder
    from telemetry.rules.config import RulesConfig

__all__ = ["family"]


TARGET_RECORD_METRIC = "resilience_telemetry_target"


def family(q: Builder, cfg: RulesConfig) -> Family:
    """The meta family for ``cfg``; every name in its PromQL comes from the catalog through ``q``."""
    component = c.COMPONENT.prom
    svc, inst = cfg.service_label, cfg.instance_label
    info = c.TELEMETRY_INFO
    up = f"up{{{q.scope[0]}}}" if q.scope else "up"
    # Targets that export resilience telemetry, remembered while they stay in service discovery:
    # `up` of every other job in the same Prometheus is not ours to page on.
    known = Record(
        record=f"{svc}_{inst}:{TARGET_RECORD_METRIC}:present",
        expr=(
            f"group by ({svc}, {inst}) ({q.series(info)})\n"
            f"or\n({svc}_{inst}:{TARGET_RECORD_METRIC}:present and on ({svc}, {inst}) {up})"
        ),
    )
    ours = f"({up} and on ({svc}, {inst}) {known.record})"
    return Family(
        name="meta",
        dashboard="overview",
        title="Service targets, degraded mode and the telemetry pipeline",
        records=(known,),
        alerts=(
            AlertRule(
                name="ServiceDown",
                expr=f"max by ({svc}) {ours} == 0",
                for_=cfg.service_down_for,
                severity="critical",
                summary="Every target of a service is down.",
                description=(
                    f"Prometheus has scraped no target of {{{{ $labels.{svc} }}}} for {cfg.service_down_for}; "
                    "the service is down or unreachable, and its other alerts cannot see it. It stays firing "
                    "while the targets are down."
                ),
                trace_errors=False,
            ),
            AlertRule(
                name="TargetDown",
                expr=(f"count by ({svc}) ({ours} == 0)\n/\ncount by ({svc}) {ours}\n> {number(cfg.target_down_ratio)}"),
                for_=cfg.target_down_for,
                severity="warning",
                summary="Some targets of a service are down.",
                description=(
                    f"{{{{ $value | humanizePercentage }}}} of the targets of {{{{ $labels.{svc} }}}} are down "
                    f"(limit {number(cfg.target_down_ratio * 100)}%, held for {cfg.target_down_for})."
                ),
                trace_errors=False,
            ),
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
                    f"{cfg.telemetry_absent_window} but has exported none for {cfg.telemetry_absent_for}; this "
                    f"alert stays firing until it reports again or {cfg.telemetry_absent_window} have passed."
                ),
                trace_errors=False,
            ),
            AlertRule(
                name="Watchdog",
                expr=f'label_replace(vector(1), "{svc}", "{cfg.watchdog_service}", "", "")',
                for_="0m",
                severity="info",
                summary="The alerting pipeline works: this alert always fires.",
                description=(
                    "Watchdog fires while Prometheus evaluates rules and reaches Alertmanager; "
                    f"Alertmanager repeats it every {cfg.deadman_repeat_interval}."
                ),
                trace_errors=False,
            ),
        ),
        runbooks=load_runbooks(
            "meta",
            cfg,
            info=info.prom,
            target_down_percent=number(cfg.target_down_ratio * 100),
        ),
    )
