"""Circuit-breaker alerts: not closed for too long (from the state gauge, so open <-> half-open
cycling still fires), flapping, and a high share of time open (from the time-in-state counter).

Runbook prose: ``breaker.md`` next to this module; promtool tests: ``alerts/tests/breaker.test.yml``.
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
    """The breaker family for ``cfg``; every name in its PromQL comes from the catalog through ``q``."""
    return Family(
        name="breaker",
        dashboard="breakers",
        title="Circuit breakers",
        records=(),
        alerts=(_open(q, cfg), _flapping(q, cfg), _open_time(q, cfg)),
        runbooks=load_runbooks(
            "breaker",
            cfg,
            open_time_percent=number(cfg.breaker_open_time_ratio * 100),
        ),
    )


def _alert(cfg: RulesConfig, *, name: str, expr: str, for_: str, severity: str, summary: str, what: str) -> AlertRule:
    """A breaker alert: labelled, linked and described the same way for every breaker alert."""
    breaker, instance = c.BREAKER_NAME.prom, cfg.instance_label
    return AlertRule(
        name=name,
        dashboard_vars=((instance, instance), ("breaker", breaker)),
        expr=expr,
        for_=for_,
        severity=severity,
        summary=summary,
        description=(
            f"Breaker {{{{ $labels.{breaker} }}}} of {{{{ $labels.{cfg.service_label} }}}} on "
            f"{{{{ $labels.{instance} }}}} {what}"
        ),
        trace_filters=(span(c.BREAKER_NAME),),
    )


def _open(q: Builder, cfg: RulesConfig) -> AlertRule:
    """No closed sample for the whole window: open, or cycling open <-> half-open (a rule on
    ``state="open"`` with ``for`` would restart at every half-open probe and never fire).

    The window must be covered: a breaker whose series are born open (state restored from
    shared storage, a new instance joining while it is open) has no closed sample in a window
    that holds only its first sample, and would otherwise fire after ``breaker_pending``.
    """
    state, name = c.CIRCUIT_STATE, c.BREAKER_NAME.prom
    window = cfg.breaker_window
    return _alert(
        cfg,
        name="CircuitBreakerOpen",
        expr=(
            f"label_replace(\n  (\n    max {q.by(state, name, instance=True)} "
            f"(max_over_time({q.series(state, state='closed')}[{window}])) == 0\n"
            f"  )\n  and {q.on(state, name, instance=True)}\n"
            f"  {q.covered(state, window, name, instance=True, state='closed')},\n"
            f'  "{c.DEPENDENCY.prom}", "$1", "{name}", "(.*)"\n)'
        ),
        for_=cfg.breaker_pending,
        severity="critical",
        summary="A circuit breaker has not closed for longer than its limit.",
        what=(
            f"has not been closed for {cfg.breaker_not_closed_for} (open, or open and half-open in turn); "
            "calls to it are rejected."
        ),
    )


def _flapping(q: Builder, cfg: RulesConfig) -> AlertRule:
    """Opens counted with the first one of a breaker registered at its first failure."""
    transitions, name = c.CIRCUIT_TRANSITIONS, c.BREAKER_NAME.prom
    window = cfg.breaker_flapping_window
    opens = q.counted(transitions, window, name, instance=True, from_state="closed", to_state="open")
    return _alert(
        cfg,
        name="CircuitBreakerFlapping",
        expr=f"{opens}\n>= {cfg.breaker_flapping_opens}",
        for_=cfg.breaker_flapping_for,
        severity="warning",
        summary="A circuit breaker keeps opening and closing.",
        what=(
            f"opened {COUNT_VALUE} times in the last {window} "
            f"(limit {cfg.breaker_flapping_opens}, held for {cfg.breaker_flapping_for})."
        ),
    )


def _open_time(q: Builder, cfg: RulesConfig) -> AlertRule:
    """From the time-in-state counter, which also sees opens shorter than a scrape; only over a
    covered window, so a breaker born open is not "open 100% of the last 15m" after 2 samples."""
    tis, name = c.CIRCUIT_TIME_IN_STATE, c.BREAKER_NAME.prom
    not_closed = tuple(s for s in c.BREAKER_STATES if s != "closed")
    window = cfg.breaker_open_time_window
    return _alert(
        cfg,
        name="CircuitBreakerOpenTimeHigh",
        expr=(
            f"sum {q.by(tis, name, instance=True)} (increase({q.series(tis, state=not_closed)}[{window}]))\n"
            f"/\nsum {q.by(tis, name, instance=True)} (increase({q.series(tis)}[{window}]))\n"
            f"> {number(cfg.breaker_open_time_ratio)}\n"
            f"and {q.on(tis, name, instance=True)}\n{q.covered(tis, window, name, instance=True, state='closed')}"
        ),
        for_=cfg.breaker_open_time_for,
        severity="warning",
        summary="A circuit breaker spends a large share of its time open.",
        what=(
            f"was open or half-open {{{{ $value | humanizePercentage }}}} of the last {window} "
            f"(limit {number(cfg.breaker_open_time_ratio * 100)}%, held for {cfg.breaker_open_time_for}), "
            "counting opens shorter than a scrape."
        ),
    )
