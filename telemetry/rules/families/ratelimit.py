"""Rate-limit alerts: a limit rejects a large share of its requests; the limiter runs on its
fallback because its storage is down.

Runbook prose: ``ratelimit.md`` next to this module; promtool tests: ``alerts/tests/ratelimit.test.yml``.
A limit's two outcomes are created together at zero, and the fallback flag exists at zero from
the limiter's creation; services without a limiter export neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemetry import catalog as c
from telemetry.promql import number
from telemetry.rules.model import COUNT_VALUE, AlertRule, Family, Record, load_runbooks, span

if TYPE_CHECKING:
    from telemetry.promql import Builder
    from telemetry.rules.config import RulesConfig

__all__ = ["family"]


def family(q: Builder, cfg: RulesConfig) -> Family:
    """The rate-limit family for ``cfg``; every name in its PromQL comes from the catalog through ``q``."""
    limiter, limit, svc = c.RATELIMIT_LIMITER.prom, c.RATELIMIT_LIMIT.prom, cfg.service_label
    spec, window = c.RATELIMIT_DECISIONS, cfg.rate_window
    by = q.by(spec, limiter, limit)
    level = q.level(spec, limiter, limit)
    rate = Record(record=f"{level}:{q.metric(spec)}:rate{window}", expr=f"sum {by} (rate({q.series(spec)}[{window}]))")
    ratio = Record(
        record=f"{level}:{q.metric(spec, 'rejected')}:ratio_rate{window}",
        expr=(
            f"sum {by} (rate({q.series(spec, outcome='rejected')}[{window}]))\n/\n"
            f"sum {by} (rate({q.series(spec)}[{window}]))"
        ),
    )
    active = c.RATELIMIT_FALLBACK_ACTIVE
    return Family(
        name="ratelimit",
        dashboard="toolbox",
        title="Rate limiters",
        records=(rate, ratio),
        alerts=(
            AlertRule(
                name="RateLimitRejectionRatioHigh",
                dashboard_vars=(("limiter", limiter),),
                expr=(
                    f"{ratio.record} > {number(cfg.ratelimit_rejection_ratio)}\n"
                    f"and {q.on(spec, limiter, limit)}\n{rate.record} > {number(cfg.ratelimit_min_rate)}"
                ),
                for_=cfg.ratelimit_rejection_for,
                severity="warning",
                summary=(
                    f"A rate limit rejects more than {number(cfg.ratelimit_rejection_ratio * 100)}% of its requests."
                ),
                description=(
                    f"{{{{ $value | humanizePercentage }}}} of the requests under {{{{ $labels.{limit} }}}} "
                    f"({{{{ $labels.{limiter} }}}}) of {{{{ $labels.{svc} }}}} were rejected over the last "
                    f"{window} (limit {number(cfg.ratelimit_rejection_ratio * 100)}%, "
                    f"held for {cfg.ratelimit_rejection_for})."
                ),
                trace_filters=(span(c.RATELIMIT_LIMIT),),
                trace_errors=False,
            ),
            AlertRule(
                name="RateLimiterOnFallback",
                dashboard_vars=(("limiter", limiter),),
                expr=f"sum {q.by(active, limiter)} ({q.series(active)}) > 0",
                for_=cfg.ratelimit_fallback_for,
                severity="warning",
                summary="A rate limiter runs on its fallback because its storage is down.",
                description=(
                    f"{COUNT_VALUE} instance(s) of {{{{ $labels.{svc} }}}} have run rate limiter "
                    f"{{{{ $labels.{limiter} }}}} on its fallback (per-process limits) for at least "
                    f"{cfg.ratelimit_fallback_for}."
                ),
                trace_errors=False,
            ),
        ),
        runbooks=load_runbooks(
            "ratelimit",
            cfg,
            percent=number(cfg.ratelimit_rejection_ratio * 100),
            min_rate=number(cfg.ratelimit_min_rate),
        ),
    )
