"""Home-grown retries report in one line each; the tenacity and stamina integrations use the same calls.

Usage::

    import telemetry

    telemetry.retry_scheduled("payments", attempt=1, delay=0.2, error=exc)
    telemetry.retry_succeeded("payments", attempts=2, waited=0.2)
    telemetry.retry_exhausted("payments", attempts=3, waited=0.6, error=exc)
    telemetry.retry_abandoned("payments", attempts=1, error=exc)   # an error the policy does not retry

A success on the first attempt is the common case, so it costs two pre-bound counter
increments and nothing else; those counters are cached per retry name in
:data:`telemetry.state.STATE` (``retry_first_attempt``), rebound when the set-up changes.
"""

from __future__ import annotations

from typing import Final

from telemetry import catalog
from telemetry.containment import contained
from telemetry.events.retry import RetryAbandoned, RetryExhausted, RetryScheduled, RetrySucceeded
from telemetry.recorder import get_recorder, record
from telemetry.state import STATE

__all__ = ["retry_abandoned", "retry_exhausted", "retry_scheduled", "retry_succeeded"]

_FIRST_ATTEMPT_CACHE: Final = 1024


def _first_attempt_succeeded(name: str) -> None:
    """The common case, on two pre-bound counters: no event, span event, log line or histogram
    observation (``resilience_retry_calls_total{outcome="success_first_attempt"}`` is its count)."""
    try:
        instruments = get_recorder().instruments
        cache = STATE.retry_first_attempt
        hit = cache.get(name)
        if hit is None or hit[0] is not instruments:
            label = instruments.admit(catalog.RETRY_NAME, name)
            if len(cache) >= _FIRST_ATTEMPT_CACHE:
                cache.clear()
            hit = cache[name] = (
                instruments,
                instruments.child(catalog.RETRY_CALLS, label, "success_first_attempt").inc,
                instruments.child(catalog.RETRY_ATTEMPTS, label).inc,
            )
        hit[1]()
        hit[2]()
    except Exception:
        contained("a first-attempt success")


def retry_scheduled(name: str, attempt: int, delay: float, error: BaseException | None = None) -> None:
    """Attempt number ``attempt`` failed with ``error``; the next one follows in ``delay`` seconds."""
    record(RetryScheduled(retry_name=name, attempt=attempt, delay=delay, caused_by=error))


def retry_succeeded(name: str, attempts: int = 1, waited: float = 0.0) -> None:
    """The call succeeded on attempt number ``attempts`` after sleeping ``waited`` seconds in total."""
    if attempts <= 1:
        _first_attempt_succeeded(name)
    else:
        record(RetrySucceeded(retry_name=name, attempts=attempts, waited=waited))


def retry_exhausted(name: str, attempts: int, waited: float = 0.0, error: BaseException | None = None) -> None:
    """Every allowed attempt failed (the last with ``error``); the span is marked, one WARNING logged."""
    record(RetryExhausted(retry_name=name, attempts=attempts, waited=waited, caused_by=error))


def retry_abandoned(name: str, attempts: int, waited: float = 0.0, error: BaseException | None = None) -> None:
    """Attempt number ``attempts`` failed with an error the policy does not retry."""
    record(RetryAbandoned(retry_name=name, attempts=attempts, waited=waited, caused_by=error))
