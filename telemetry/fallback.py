"""Fallbacks and degraded mode: when a service answers with less than it normally would.

Usage::

    import telemetry

    telemetry.fallback_used("exchange_rates", reason="circuit_open")
    telemetry.set_degraded("search", reason="index unavailable")   # ... degraded=False when back

A fallback is a single answer given another way (``resilience_fallback_activations_total``); degraded
mode is a state a component stays in (``resilience_degraded``, 1 or 0) until it is declared
back. The flags live in :data:`telemetry.state.STATE` so ``telemetry.state.reset()`` forgets them.
"""

from __future__ import annotations

from telemetry import catalog
from telemetry.events.health import DegradedModeEntered, DegradedModeExited, FallbackUsed
from telemetry.recorder import get_recorder, record
from telemetry.state import LOCK, STATE

__all__ = ["fallback_used", "set_degraded"]


def fallback_used(operation: str, reason: str, error: BaseException | None = None) -> None:
    """A fallback answered for ``operation`` because of ``reason`` (a short, bounded word such as
    ``circuit_open``, ``timeout``, ``error``); ``error`` only adds ``error.type`` to span and log."""
    record(FallbackUsed(operation=operation, reason=reason, caused_by=error))


def set_degraded(component: str, degraded: bool = True, *, reason: str = "") -> None:
    """Mark ``component`` degraded (gauge 1, WARNING) or back to normal (gauge 0, INFO).

    Only changes are logged; declaring a component healthy for the first time just creates
    its series at 0, so "degraded for N minutes" alerts have a series from start-up.
    """
    with LOCK:
        previous = STATE.degraded.get(component)
        STATE.degraded[component] = degraded
    if previous is None and not degraded:
        try:
            instruments = get_recorder().instruments
            instruments.set(catalog.DEGRADED, 0, instruments.admit(catalog.COMPONENT, component))
        except Exception:  # noqa: S110 - telemetry never breaks the caller
            pass
        return
    if previous == degraded:
        return
    if degraded:
        record(DegradedModeEntered(component=component, reason=reason))
    else:
        record(DegradedModeExited(component=component))
