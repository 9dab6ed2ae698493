"""Circuit-breaker alerts: not closed for too long (from the state gauge, so open <-> half-open
cycling still fires), flapping, and a high share of time open (from the time-in-state counter).

Runbook prose: ``breaker.md`` next to this module; promtool tests: ``alerts/tests/breaker.test.yml``.
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
    """The breaker family for ``cfg``; every name in its PromQL comes from the catalog through ``q``."""
    state, tis, transitions = c.CIRCUIT_STATE, c.CIRCUIT_TIME_IN_STATE, c.CIRCUIT_TRANSITIONS
    name = c.BREAKER_NAME.prom
    not_closed = tuple(s for s in c.BREAKER_STATES if s != "closed")
    window = cfg.breaker_open_time_window
    open_expr = (
        f"label_replace(\n  max {q.by(state, name, instance=True)} "
        f"(max_over_time({q.series(state, state='closed')}[{cfg.breaker_window}])) == 0,\n"
        f'  "{c.DEPENDENCY.prom}", "$1", "{name}", "(.*)"\n)'
    )
    flapping = (
        f"sum {q.by(transitions, name, instance=True)} (increase("
        f"{q.series(transitions, from_state='closed', to_state='open')}[{cfg.breaker_flapping_window}]))"
        f" >= {cfg.breaker_flapping_opens}"
    )
    open_time = (
        f"sum {q.by(tis, name, instance=True)} (increase({q.series(tis, state=not_closed)}[{window}]))\n"
        f"/\nsum {q.by(tis, name, instance=True)} (increase({q.series(tis)}[{window}]))\n"
        f"> {number(cfg.breaker_open_time_ratio)}"
    )
    trace = (span(c.BREAKER_NAME),)
    return Family(
        name="breaker",
        dashboard="breakers",
        title="Circuit breakers",
        records=(),
        alerts=(
            AlertRule(
                name="CircuitBreakerOpen",
                dashboard_vars=(("instance", "instance"), ("breaker", name)),
                expr=open_expr,
                for_=cfg.breaker_pending,
                severity="critical",
                summary="A circuit breaker has not closed for longer than its limit.",
                description=(
                    f"Breaker {{{{ $labels.{name} }}}} of {{{{ $labels.{cfg.service_label} }}}} on "
                    f"{{{{ $labels.instance }}}} has been open or half-open for more than "
                    f"{cfg.breaker_not_closed_for}; calls to it are rejected."
                ),
                trace_filters=trace,
            ),
            AlertRule(
                name="CircuitBreakerFlapping",
                dashboard_vars=(("instance", "instance"), ("breaker", name)),
                expr=flapping,
                for_=cfg.breaker_flapping_for,
                severity="warning",
                summary="A circuit breaker keeps opening and closing.",
                description=(
                    f"Breaker {{{{ $labels.{name} }}}} of {{{{ $labels.{cfg.service_label} }}}} on "
                    f"{{{{ $labels.instance }}}} opened {{{{ $value | humanize }}}} times in the last "
                    f"{cfg.breaker_flapping_window}."
                ),
                trace_filters=trace,
            ),
            AlertRule(
                name="CircuitBreakerOpenTimeHigh",
                dashboard_vars=(("instance", "instance"), ("breaker", name)),
                expr=open_time,
                for_=cfg.breaker_open_time_for,
                severity="warning",
                summary="A circuit breaker spends a large share of its time open.",
                description=(
                    f"Breaker {{{{ $labels.{name} }}}} of {{{{ $labels.{cfg.service_label} }}}} on "
                    f"{{{{ $labels.instance }}}} was open or half-open {{{{ $value | humanizePercentage }}}} "
                    f"of the last {window}, counting opens shorter than a scrape."
                ),
                trace_filters=trace,
            ),
        ),
        runbooks=load_runbooks(
            "breaker",
            cfg,
            open_time_percent=number(cfg.breaker_open_time_ratio * 100),
        ),
    )
