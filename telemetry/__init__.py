"""resilience-telemetry: one call makes a service's resilience machinery observable.

Usage::

    import telemetry
    telemetry.instrument(app)   # FastAPI app; metrics, spans and JSON logs from here on

Importing this package has no side effects: nothing is registered, patched or configured
until :func:`setup` or :func:`instrument` is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from telemetry.bootstrap import Telemetry, setup
from telemetry.breaker import Breaker, circuit_breaker
from telemetry.bulkheads import Bulkhead, BulkheadFullError, bulkhead, bulkhead_reporter
from telemetry.correlation import get_correlation_id
from telemetry.fallback import fallback_used, set_degraded
from telemetry.logging import configure_logging
from telemetry.ratelimit import rate_limiter
from telemetry.recorder import record
from telemetry.recovery import recovery_job, watch_recovery_backlog
from telemetry.retry import retry_abandoned, retry_exhausted, retry_scheduled, retry_succeeded
from telemetry.timeouts import time_budget, timeout, wait_for

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "Breaker",
    "Bulkhead",
    "BulkheadFullError",
    "Telemetry",
    "bulkhead",
    "bulkhead_reporter",
    "circuit_breaker",
    "configure_logging",
    "fallback_used",
    "get_correlation_id",
    "instrument",
    "rate_limiter",
    "record",
    "recovery_job",
    "retry_abandoned",
    "retry_exhausted",
    "retry_scheduled",
    "retry_succeeded",
    "set_degraded",
    "setup",
    "time_budget",
    "timeout",
    "wait_for",
    "watch_recovery_backlog",
]


def instrument(
    app: Any = None,
    *,
    engine: Any = None,
    metrics_token: str | None = None,
    metrics_allow: Sequence[str] | None = None,
    protected_paths: Sequence[str] = (),
    health_token: str | None = None,
    health_allow: Sequence[str] | None = None,
    client_spans: bool = True,
    **setup_options: Any,
) -> Telemetry:
    """Set up once (see :func:`setup` for the options) and instrument ``app`` if given.

    ``engine`` (a SQLAlchemy ``Engine`` or ``AsyncEngine``) gets connection-pool telemetry and,
    unless ``client_spans=False``, a CLIENT span per query (children of the request's span, so
    a trace shows which statement failed), see
    :func:`telemetry.integrations.sqlalchemy.instrument_engine`. ``metrics_token``,
    ``metrics_allow`` and ``protected_paths`` restrict ``/metrics`` (and e.g.
    ``/health/detailed``), ``health_token`` and ``health_allow`` open ``/health/detailed``
    beyond loopback; the defaults are in :func:`telemetry.integrations.fastapi.instrument_app`.
    Calling it again, with the same or another app, never registers anything twice.
    """
    result = setup(**setup_options)
    if app is not None:
        from telemetry.integrations.fastapi import instrument_app

        instrument_app(
            app,
            telemetry=result,
            metrics_token=metrics_token,
            metrics_allow=metrics_allow,
            protected_paths=protected_paths,
            health_token=health_token,
            health_allow=health_allow,
        )
    if engine is not None:
        from telemetry.integrations.sqlalchemy import instrument_engine

        instrument_engine(engine, telemetry=result, client_spans=client_spans)
    return result
