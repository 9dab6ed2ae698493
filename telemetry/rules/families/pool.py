"""Database connection-pool alerts: checkout timeouts, waiting checkouts, every connection in use.

Runbook prose: ``pool.md`` next to this module; promtool tests: ``alerts/tests/pool.test.yml``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemetry import catalog as c
from telemetry.promql import number
from telemetry.rules.model import AlertRule, Family, load_runbooks

if TYPE_CHECKING:
    from telemetry.promql import Builder
    from telemetry.rules.config import RulesConfig

__all__ = ["family"]


def family(q: Builder, cfg: RulesConfig) -> Family:
    """The pool family for ``cfg``; every name in its PromQL comes from the catalog through ``q``."""
    pool = c.POOL_NAME.prom
    count, maximum = c.DB_CLIENT_CONNECTION_COUNT, c.DB_CLIENT_CONNECTION_MAX
    pending, timeouts = c.DB_CLIENT_CONNECTION_PENDING_REQUESTS, c.DB_CLIENT_CONNECTION_TIMEOUTS
    state = c.DB_CLIENT_CONNECTION_COUNT.labels[1].prom
    used = {state: "used"}
    trace = ((f"span.{c.POOL_NAME.name}", pool),)
    who = f"Pool {{{{ $labels.{pool} }}}} of {{{{ $labels.{cfg.service_label} }}}}"
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
                    f"sum {q.by(timeouts, pool)} (increase({q.series(timeouts)}[{cfg.pool_timeouts_window}]))"
                    f" > {number(cfg.pool_timeouts_threshold)}"
                ),
                for_=cfg.pool_timeouts_for,
                severity="critical",
                summary="Database connection checkouts time out: the pool is exhausted.",
                description=(
                    f"{who} had {{{{ $value | humanize }}}} checkout timeouts in the last "
                    f"{cfg.pool_timeouts_window}; requests fail waiting for a connection."
                ),
                trace_filters=trace,
            ),
            AlertRule(
                name="DatabasePoolWaiters",
                dashboard_vars=(("instance", "instance"), ("pool", pool)),
                expr=f"sum {q.by(pending, pool, instance=True)} ({q.series(pending)}) > 0",
                for_=cfg.pool_waiters_for,
                severity="warning",
                summary="Requests have been waiting for database connections for minutes.",
                description=(
                    f"{who} on {{{{ $labels.instance }}}} has had checkouts waiting for "
                    f"{cfg.pool_waiters_for}; {{{{ $value | humanize }}}} are waiting now."
                ),
                trace_filters=trace,
                trace_errors=False,
            ),
            AlertRule(
                name="DatabasePoolSaturated",
                dashboard_vars=(("instance", "instance"), ("pool", pool)),
                # Compared series by series, then folded: under several workers each worker
                # has its own pool (``worker`` label), and one saturated worker is enough.
                expr=(
                    f"max {q.by(count, pool, instance=True)} (\n  {q.series(count, **used)}\n"
                    f"  >= ignoring ({state}) {q.series(maximum)}\n)"
                ),
                for_=cfg.pool_saturated_for,
                severity="warning",
                summary="Every connection of a database pool has been in use for minutes.",
                description=(
                    f"{who} on {{{{ $labels.instance }}}} has used all {{{{ $value | humanize }}}} "
                    f"connections for {cfg.pool_saturated_for}."
                ),
                trace_filters=trace,
                trace_errors=False,
            ),
        ),
        runbooks=load_runbooks("pool", cfg),
    )
