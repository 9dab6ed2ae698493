"""pybreaker: state, time in state, transitions and calls by outcome, rejected calls included.

Usage::

    import pybreaker
    from telemetry.integrations.pybreaker import instrument_breaker

    payments = instrument_breaker(pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30, name="payments"))
    payments.call(charge, order)        # or @payments, or `with payments.calling():`

A listener sees transitions, successes and failures. Rejections never reach pybreaker's
listeners (the open state raises before they run), so the open-state object's ``before_call``
is wrapped while the breaker is open: calls in the closed state pay nothing for it. A call
that trips the breaker raises ``CircuitBreakerError`` too, but it reached the dependency: it
is a failure, not a rejection. State and time in state come from
the shared :class:`telemetry.breaker.Breaker` handle, fed by the listener, so a scrape never
reads the breaker's storage: with ``CircuitRedisStorage`` no scrape calls Redis. With a shared
Redis state, every process counts the transitions it notices (pybreaker notifies each
observer); excluded exceptions count as successes (pybreaker reports them so).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from telemetry.breaker import Breaker, circuit_breaker
from telemetry.integrations.contract import check_telemetry, enabled, enabled_check, require

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["instrument_breaker", "is_instrumented", "uninstrument_breaker"]

_PATCHED: Final = "_telemetry_rejections"


def _nothing(*_args: Any, **_kwargs: Any) -> None:
    return


class _Listener:
    """A pybreaker listener (duck-typed, so importing this module does not import pybreaker).

    The closed-state call runs ``before_call`` and ``success`` of every listener: the first is
    a plain function (no bound method per call), the second checks suppression with
    OpenTelemetry's own function, looked up once, and counts through the handle's pre-bound
    child. Together they are the whole per-call cost of the instrumentation.
    """

    __slots__ = ("error", "handle", "instrumentation_enabled")

    before_call = staticmethod(_nothing)

    def __init__(self, handle: Breaker, error: type[BaseException]) -> None:
        self.handle = handle
        self.error = error
        self.instrumentation_enabled = enabled_check()

    def success(self, _cb: Any) -> None:
        if self.instrumentation_enabled():
            self.handle.succeeded()

    def failure(self, _cb: Any, exc: BaseException) -> None:
        if enabled():
            self.handle.failed(exc)

    def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
        if enabled():
            self.handle.state_changed(old_state, new_state)
        else:
            self.handle.sync(new_state)  # the state stays right; the change is not recorded
        _watch_rejections(cb, new_state, self.handle, self.error)


def _watch_rejections(cb: Any, state: Any, handle: Breaker, error: type[BaseException]) -> None:
    """Count rejections of an open-state object: pybreaker raises them before any listener runs.

    Only the open state's ``before_call`` is wrapped, so calls in the closed state pay nothing.
    It raises ``CircuitBreakerError`` itself for a rejection; when the reset timeout has passed
    it half-opens and makes the trial call, whose trip error is not a rejection: the breaker's
    state object has changed by then.
    """
    if getattr(state, "name", None) != "open" or _PATCHED in vars(state):
        return
    original: Callable[..., Any] = state.before_call

    def before_call(func: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(func, *args, **kwargs)
        except error:
            if cb._state is state and enabled():
                handle.rejected()
            raise

    state.before_call = before_call
    setattr(state, _PATCHED, original)


def _listener(cb: Any) -> _Listener | None:
    return next((item for item in cb.listeners if isinstance(item, _Listener)), None)


def is_instrumented(cb: Any) -> bool:
    """Whether :func:`instrument_breaker` instrumented ``cb`` (and it was not undone since)."""
    return _listener(cb) is not None


def instrument_breaker(cb: Any, *, name: str | None = None, telemetry: object = None) -> Any:
    """Instrument one ``pybreaker.CircuitBreaker`` in place and return it.

    ``name`` defaults to the breaker's own; one of the two is required. Instrumenting again
    changes nothing. Nothing is recorded inside OpenTelemetry's ``suppress_instrumentation()``
    (the handle still follows the breaker's state).
    """
    pybreaker = require("pybreaker", "pybreaker")
    check_telemetry(telemetry)
    if _listener(cb) is not None:
        return cb
    resolved = name or cb.name
    if not resolved:
        raise ValueError("name the breaker: pybreaker.CircuitBreaker(name=...) or instrument_breaker(cb, name=...)")
    # The cached state object, not cb.current_state: that one reads the storage (Redis).
    state = cb._state
    handle = circuit_breaker(resolved, state=state.name)
    handle.sync(state)
    cb.add_listener(_Listener(handle, pybreaker.CircuitBreakerError))
    _watch_rejections(cb, state, handle, pybreaker.CircuitBreakerError)
    return cb


def uninstrument_breaker(cb: Any) -> Any:
    """Remove the listener and the rejection watch and return ``cb`` (idempotent); the handle's
    series stay exported."""
    listener = _listener(cb)
    if listener is not None:
        cb.remove_listener(listener)
        state = cb._state
        if _PATCHED in vars(state):
            state.before_call = vars(state).pop(_PATCHED)
    return cb
