"""HTTP availability and latency SLO alerts: multi-window, multi-burn-rate pairs (SRE workbook).

Runbook prose: ``slo.md`` next to this module; promtool tests: ``alerts/tests/slo.test.yml``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemetry import catalog as c
from telemetry.promql import number
from telemetry.rules.config import duration_seconds
from telemetry.rules.model import AlertRule, Family, Record, load_runbooks

if TYPE_CHECKING:
    from telemetry.promql import Builder
    from telemetry.rules.config import RulesConfig

__all__ = ["family"]


def family(q: Builder, cfg: RulesConfig) -> Family:
    """The slo family for ``cfg``; every name in its PromQL comes from the catalog through ``q``."""
    spec = c.HTTP_SERVER_REQUEST_DURATION
    status = spec.labels[2].prom
    svc = cfg.service_label
    by = f"by ({svc})"
    windows = sorted(
        {w for pair in cfg.slo_windows for w in (pair.long, pair.short)},
        key=duration_seconds,
    )
    records: list[Record] = []
    errors_name = "{svc}:http_server_request_errors:ratio_rate{w}"
    slow_name = "{svc}:http_server_request_slow:ratio_rate{w}"
    requests_name = "{svc}:http_server_requests:rate{w}"
    le = str(float(cfg.latency_threshold))
    for w in windows:
        total = f"sum {by} (rate({q.series(spec, '_count')}[{w}]))"
        errors = f"sum {by} (rate({q.series(spec, '_count', **{status: ('5..',)})}[{w}]))"
        fast = f"sum {by} (rate({q.series(spec, '_bucket', le=le)}[{w}]))"
        records.append(Record(record=requests_name.format(svc=svc, w=w), expr=total))
        records.append(Record(record=errors_name.format(svc=svc, w=w), expr=f"{errors}\n/\n{total}"))
        records.append(Record(record=slow_name.format(svc=svc, w=w), expr=f"({total} - {fast})\n/\n{total}"))
    alerts: list[AlertRule] = []
    for kind, objective, template in (
        ("Availability", cfg.availability_objective, errors_name),
        ("Latency", cfg.latency_objective, slow_name),
    ):
        budget = 1 - objective
        what = "server errors (5xx)" if kind == "Availability" else f"requests slower than {le}s"
        for pair in cfg.slo_windows:
            threshold = number(pair.factor * budget)
            long_name = template.format(svc=svc, w=pair.long)
            short_name = template.format(svc=svc, w=pair.short)
            # A handful of requests is no evidence: one failure in three would be a 33% burn. And a
            # service younger than the short window has no such window yet (start-up is slow).
            guard = number(cfg.slo_min_requests / duration_seconds(pair.short))
            alerts.append(
                AlertRule(
                    name=f"Http{kind}BudgetBurn",
                    expr=(
                        f"{long_name} > {threshold}\nand\n{short_name} > {threshold}\n"
                        f"and on ({svc})\n{requests_name.format(svc=svc, w=pair.short)} >= {guard}\n"
                        f"and on ({svc})\n{q.covered(spec, pair.short, suffix='_count')}"
                    ),
                    for_=pair.for_,
                    severity=pair.severity,
                    summary=f"The HTTP {kind.lower()} error budget is burning too fast.",
                    description=(
                        f"{{{{ $value | humanizePercentage }}}} of the requests of {{{{ $labels.{svc} }}}} "
                        f"were {what} over the last {pair.long} ({number(pair.factor)}x the budget of "
                        f"the {number(objective * 100)}% objective; also over the last {pair.short}, with at least "
                        f"{cfg.slo_min_requests} requests there; held for {pair.for_})."
                    ),
                    labels=(("long", pair.long), ("short", pair.short)),
                    trace_errors=kind == "Availability",
                    trace_slower_than=None if kind == "Availability" else cfg.latency_threshold,
                )
            )
    return Family(
        name="slo",
        dashboard="overview",
        title="HTTP SLOs (multi-window, multi-burn-rate)",
        records=tuple(records),
        alerts=tuple(alerts),
        runbooks=load_runbooks(
            "slo",
            cfg,
            pairs=_pairs(cfg),
            availability=number(cfg.availability_objective * 100),
            latency=number(cfg.latency_objective * 100),
            threshold=le,
        ),
    )


def _pairs(cfg: RulesConfig) -> str:
    """What each window pair means for urgency, for the runbooks: its factor, whether it pages,
    and how soon the whole budget would be gone at that burn rate."""
    period = duration_seconds(cfg.slo_budget_window)
    parts = []
    for pair in cfg.slo_windows:
        hours = period / pair.factor / 3600
        left = f"{round(hours)}h" if hours <= 48 else f"{round(hours / 24)}d"
        urgency = "pages" if pair.severity == "critical" else "a ticket"
        parts.append(
            f"long={pair.long}, short={pair.short}: {number(pair.factor)}x the budget, {urgency} "
            f"(at that rate the {cfg.slo_budget_window} budget is gone in {left})"
        )
    return "; ".join(parts)
