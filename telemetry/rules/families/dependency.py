"""Dependency (S3 and others) and health-check alerts: failure ratio above a threshold, with a
traffic guard so one failing call does not page.

Runbook prose: ``dependency.md`` next to this module; promtool tests: ``alerts/tests/dependency.test.yml``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemetry import catalog as c
from telemetry.promql import number
from telemetry.rules.model import AlertRule, Family, event, load_runbooks, ratio_records, span

if TYPE_CHECKING:
    from telemetry.promql import Builder
    from telemetry.rules.config import RulesConfig

__all__ = ["family"]


def family(q: Builder, cfg: RulesConfig) -> Family:
    """The dependency family for ``cfg``; every name in its PromQL comes from the catalog through ``q``."""
    dep = c.DEPENDENCY.prom
    check = c.CHECK.prom
    ops = c.DEPENDENCY_OPERATIONS
    d_rate, d_ratio = ratio_records(q, cfg, ops, c.DEPENDENCY, cfg.dependency_failure_outcomes)
    health_failures = tuple(v for v in c.HEALTH_CHECKS.labels[-1].values or () if v != "success")
    h_rate, h_ratio = ratio_records(q, cfg, c.HEALTH_CHECKS, c.CHECK, health_failures)
    svc = cfg.service_label
    outage = cfg.dependency_outage_window
    failed = q.counted(ops, outage, dep, outcome=cfg.dependency_failure_outcomes)
    total = q.counted(ops, outage, dep)
    return Family(
        name="dependency",
        dashboard="dependencies",
        title="Dependencies (S3 and others) and health checks",
        records=(d_rate, d_ratio, h_rate, h_ratio),
        alerts=(
            AlertRule(
                name="DependencyFailureRatioHigh",
                dashboard_vars=(("dependency", dep),),
                expr=(
                    f"(\n  {d_ratio.record} > {number(cfg.dependency_failure_ratio)}\n"
                    f"  and on ({svc}, {dep})\n  {d_rate.record} > {number(cfg.dependency_min_rate)}\n)\n"
                    f"or\n(\n  {failed}\n  /\n  {total}\n  >= 1\n"
                    f"  and on ({svc}, {dep})\n  {failed}\n  >= {cfg.dependency_outage_min_failures}\n)"
                ),
                for_=cfg.dependency_failure_for,
                severity="critical",
                summary=(
                    f"Calls to a dependency fail more than {number(cfg.dependency_failure_ratio * 100)}% of the time."
                ),
                description=(
                    f"{{{{ $value | humanizePercentage }}}} of the operations of {{{{ $labels.{svc} }}}} on "
                    f"{{{{ $labels.{dep} }}}} failed: over {number(cfg.dependency_failure_ratio * 100)}% for "
                    f"{cfg.dependency_failure_for} over {cfg.rate_window} windows at more than "
                    f"{number(cfg.dependency_min_rate)} operations/s, or every one of at least "
                    f"{cfg.dependency_outage_min_failures} in {outage}."
                ),
                trace_filters=(event(c.DEPENDENCY),),  # only the dependency-call events name it
            ),
            AlertRule(
                name="HealthCheckFailureRatioHigh",
                dashboard_vars=(("check", check),),
                expr=(
                    f"label_replace(\n  {h_ratio.record} > {number(cfg.health_failure_ratio)}\n"
                    f"  and on ({svc}, {check})\n  {h_rate.record} > {number(cfg.health_min_rate)},\n"
                    f'  "{dep}", "$1", "{check}", "(.*)"\n)'
                ),
                for_=cfg.health_failure_for,
                severity="critical",
                summary=(f"A health check fails more than {number(cfg.health_failure_ratio * 100)}% of its runs."),
                description=(
                    f"Health check {{{{ $labels.{check} }}}} of {{{{ $labels.{svc} }}}} failed "
                    f"{{{{ $value | humanizePercentage }}}} of its runs over the last {cfg.rate_window} "
                    f"(limit {number(cfg.health_failure_ratio * 100)}%, held for {cfg.health_failure_for})."
                ),
                trace_filters=(span(c.CHECK),),
            ),
        ),
        runbooks=load_runbooks(
            "dependency",
            cfg,
            failure_percent=number(cfg.dependency_failure_ratio * 100),
            outcomes=", ".join(cfg.dependency_failure_outcomes),
            outcomes_regex="|".join(cfg.dependency_failure_outcomes),
            min_rate=number(cfg.dependency_min_rate),
            health_percent=number(cfg.health_failure_ratio * 100),
        ),
    )
