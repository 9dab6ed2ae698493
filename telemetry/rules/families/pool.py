"""Database connection-pool alerts: checkout timeouts, waiting checkouts, every connection in use.

Runbook prose: ``pool.md`` next to this module; promtool tests: ``alerts/tests/pool.test.yml``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemetry import catalog as c
from telemetry.promql import number
from telemetry.rules.config import duration_seconds
from telemetry.rules.model import COUNT_VALUE, AlertRule, Family, load_runbooks

if TYPE_CHECKING:
    from telemetry.promql import Builder
    from telemetry.rules.config import RulesConfig

__all__ = ["family"]


def family(q: Builder, cfg: RulesConfig) -> Family:
    """The pool family for ``cfg``; every name in its PromQL comes from the catalog through ``q``."""
    pool, instance = c.POOL_NAME.prom, cfg.instance_label
    count, maximum = c.DB_CLIENT_CONNECTION_COUNT, c.DB_CLIENT_CONNECTION_MAX
    pending, timeouts = c.DB_CLIENT_CONNECTION_PENDING_REQUESTS, c.DB_CLIENT_CONNECTION_TIMEOUTS
    waits = c.DB_CLIENT_CONNECTION_WAIT_TIME
    used = {c.DB_CLIENT_CONNECTION_COUNT.labels[1].prom: "used"}
    trace = ((f"event.{c.POOL_NAME.name}", pool),)  # only the pool-wait events name it
    who = f"Pool {{{{ $labels.{pool} }}}} of {{{{ $labels.{cfg.service_label} }}}}"
    window = cfg.pool_timeouts_window
    timed_out = q.counted(timeouts, window, pool)
    # A checkout either succeeds (one wait-time observation) or times out.
    checkouts = f"({timed_out}\n+\nsum {q.by(waits, pool)} (increase({q.series(waits, '_count')}[{window}])))"
    return Family(
        name="pool",
        dashboard="pools",
        title="Database connection pools",
        records=(),
        alerts=(
            AlertRule(
                name="DatabasePoolTimeouts",
                dashboard_vars=(("pool", pool),),
                expr=(
                    f"{timed_out}\n/\n{checkouts}\n> {number(cfg.pool_timeout_ratio)}\n"
                    f"and {q.on(timeouts, pool)}\n{checkouts}\n"
                    f"> {number(cfg.pool_min_checkout_rate * duration_seconds(window))}"
                ),
                for_=cfg.pool_timeouts_for,
                severity="critical",
                summary="Database connection checkouts keep timing out: the pool is exhausted.",
                description=(
                    f"{{{{ $value | humanizePercentage }}}} of the checkouts of pool {{{{ $labels.{pool} }}}} of "
                    f"{{{{ $labels.{cfg.service_label} }}}} timed out over the last "
                    f"{window} (limit {number(cfg.pool_timeout_ratio * 100)}%, held for {cfg.pool_timeouts_for}); "
                    "requests fail waiting for a connection."
                ),
                trace_filters=trace,
            ),
            AlertRule(
                name="DatabasePoolCheckoutTimeouts",
                dashboard_vars=(("pool", pool),),
                expr=f"{timed_out}\n> {number(cfg.pool_timeouts_threshold)}",
                for_=cfg.pool_timeouts_count_for,
                severity="warning",
                summary="Database connection checkouts timed out.",
                description=(
                    f"{who} had {COUNT_VALUE} checkout timeouts in the last {window} "
                    f"(limit {number(cfg.pool_timeouts_threshold)}, held for {cfg.pool_timeouts_count_for})."
                ),
                trace_filters=trace,
            ),
            AlertRule(
                name="DatabasePoolWaiters",
                dashboard_vars=((instance, instance), ("pool", pool)),
                expr=f"sum {q.by(pending, pool, instance=True)} ({q.series(pending)}) > 0",
                for_=cfg.pool_waiters_for,
                severity="warning",
                summary="Requests have been waiting for database connections for minutes.",
                description=(
                    f"{who} on {{{{ $labels.{instance} }}}} has had checkouts waiting for "
                    f"{cfg.pool_waiters_for}; {COUNT_VALUE} are waiting now."
                ),
                trace_filters=trace,
                trace_errors=False,
            ),
            AlertRule(
                name="DatabasePoolSaturated",
                dashboard_vars=((instance, instance), ("pool", pool)),
                expr=(
                    f"sum {q.by(count, pool, instance=True)} ({q.series(count, **used)})\n"
                    f">=\nsum {q.by(maximum, pool, instance=True)} ({q.series(maximum)})"
                ),
                for_=cfg.pool_saturated_for,
                severity="warning",
                summary="Every connection of a database pool has been in use for minutes.",
                description=(
                    f"{who} on {{{{ $labels.{instance} }}}} has used all {COUNT_VALUE} "
                    f"connections for {cfg.pool_saturated_for}."
                ),
                trace_filters=trace,
                trace_errors=False,
            ),
        ),
        runbooks=load_runbooks("pool", cfg, timeout_percent=number(cfg.pool_timeout_ratio * 100)),
    )
