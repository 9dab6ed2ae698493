"""pybreaker: state, time in state, transitions and calls by outcome, rejected calls included.

Usage::

    import pybreaker
    from telemetry.integrations.pybreaker import instrument_breaker

    payments = instrument_breaker(pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30, name="payments"))
    payments.call(charge, order)        # or @payments, or `with payments.calling():`

Two pieces, both on the breaker instance: a listener (transitions, successes, failures) and
a ``call`` that sees rejections, which pybreaker's listeners never do (the open state raises
before they run). A call that trips the breaker raises ``CircuitBreakerError`` too, but it
reached the dependency: it is a failure, not a rejection. State and time in state come from
the shared :class:`telemetry.breaker.Breaker` handle, fed by the listener, so a scrape never
reads the breaker's storage: with ``CircuitRedisStorage`` no scrape calls Redis. With a shared
Redis state, every process counts the transitions it notices (pybreaker notifies each
observer); excluded exceptions count as successes (pybreaker reports them so).
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any, Final

from telemetry.breaker import Breaker, breaker

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["TelemetryListener", "instrument_breaker", "uninstrument_breaker"]

_HINT: Final = "pybreaker instrumentation needs pybreaker: pip install 'resilience-telemetry[pybreaker]'"
# Calls pybreaker let through in this context, ever: a call whose CircuitBreakerError left it
# unchanged was refused before reaching the dependency. Nested and half-open re-entrant calls
# only ever add to it, so no per-call reset is needed.
_admitted: contextvars.ContextVar[int] = contextvars.ContextVar("telemetry_pybreaker_admitted", default=0)


class TelemetryListener:
    """A pybreaker listener (duck-typed, so importing this module does not import pybreaker)."""

    __slots__ = ("handle",)

    def __init__(self, handle: Breaker) -> None:
        self.handle = handle

    def before_call(self, _cb: Any, _func: Any, *_args: Any, **_kwargs: Any) -> None:
        _admitted.set(_admitted.get() + 1)

    def success(self, _cb: Any) -> None:
        self.handle.succeeded()

    def failure(self, _cb: Any, exc: BaseException) -> None:
        self.handle.failed(exc)

    def state_change(self, _cb: Any, old_state: Any, new_state: Any) -> None:
        self.handle.state_changed(old_state, new_state)


def _listener(cb: Any) -> TelemetryListener | None:
    return next((item for item in cb.listeners if isinstance(item, TelemetryListener)), None)


def _observed_call(cb: Any, handle: Breaker, error: type[BaseException]) -> Callable[..., Any]:
    call = type(cb).call

    def observed_call(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        admitted = _admitted.get()
        try:
            return call(cb, func, *args, **kwargs)
        except error:
            if _admitted.get() == admitted:
                handle.rejected()
            raise

    return observed_call


def instrument_breaker(cb: Any, *, name: str | None = None) -> Any:
    """Instrument one ``pybreaker.CircuitBreaker`` in place and return it.

    ``name`` defaults to the breaker's own; one of the two is required. Instrumenting again
    changes nothing.
    """
    try:
        import pybreaker
    except ImportError as exc:
        raise ImportError(_HINT) from exc
    if _listener(cb) is not None:
        return cb
    resolved = name or cb.name
    if not resolved:
        raise ValueError("name the breaker: pybreaker.CircuitBreaker(name=...) or instrument_breaker(cb, name=...)")
    # The cached state object, not cb.current_state: that one reads the storage (Redis).
    handle = breaker(resolved, state=cb._state.name)
    handle.sync(cb._state)
    cb.add_listener(TelemetryListener(handle))
    cb.call = _observed_call(cb, handle, pybreaker.CircuitBreakerError)
    return cb


def uninstrument_breaker(cb: Any) -> Any:
    """Remove the listener and the observing ``call``; the handle's series stay exported."""
    listener = _listener(cb)
    if listener is not None:
        cb.remove_listener(listener)
        cb.__dict__.pop("call", None)
    return cb
