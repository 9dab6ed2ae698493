"""tenacity: calls by outcome, attempts, backoff and a span event per scheduled retry.

Usage::

    from tenacity import AsyncRetrying, retry, stop_after_attempt
    from telemetry.integrations.tenacity import instrument_retrying

    @retry(stop=stop_after_attempt(3))
    def fetch_rates() -> dict: ...

    instrument_retrying(fetch_rates, name="rates")               # a @retry-decorated function
    retrying = instrument_retrying(AsyncRetrying(stop=stop_after_attempt(5)), name="s3")

How it hooks in, without changing tenacity's behaviour: the ``retry`` strategy is wrapped to
see every outcome (a success, or an error the policy does not retry), ``stop`` is wrapped to
see exhaustion, and ``before_sleep`` is chained to see each scheduled retry. Nothing reads
``.statistics`` (wrong under concurrency) and ``retry_error_callback`` is left alone. All
three hooks read only the per-call ``RetryCallState``, so concurrent calls are counted
exactly. ``retry_with()``/``copy(retry=...)`` replace the wrapped strategy: instrument the copy.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, Final

from telemetry.breaker import retry_abandoned, retry_exhausted, retry_scheduled, retry_succeeded

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["instrument_retrying", "is_instrumented", "uninstrument_retrying"]

_HINT: Final = "tenacity instrumentation needs tenacity: pip install 'resilience-telemetry[tenacity]'"


def _callable_name(fn: Any) -> str:
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    module = getattr(fn, "__module__", None)
    return name if module in (None, "builtins") else f"{module}.{name}"


class _Names:
    """The retry name: the given one, tenacity's ``name=``, or the retried function's."""

    __slots__ = ("_fn", "_fn_name", "fixed")

    def __init__(self, fixed: str | None) -> None:
        self.fixed = fixed
        self._fn: Any = None
        self._fn_name = "<unknown>"

    def __call__(self, rs: Any) -> str:
        if self.fixed is not None:
            return self.fixed
        fn = rs.fn
        if fn is None:
            return str(rs.retry_object)
        if fn is not self._fn:
            self._fn_name, self._fn = _callable_name(fn), fn
        return self._fn_name


def _error(rs: Any) -> BaseException | None:
    outcome = rs.outcome
    return outcome.exception() if outcome is not None else None


def _is_async(fn: Any) -> bool:
    """Whether tenacity will await ``fn`` (it checks the same way): then our wrapper must be async too."""
    if fn is None or inspect.isclass(fn):
        return False
    target = fn.func if isinstance(fn, functools.partial) else fn
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(getattr(target, "__call__", None))  # noqa: B004


class _Retry:
    """Wraps the ``retry`` strategy: a false decision ends the call (success or not retryable)."""

    __slots__ = ("inner", "names")

    def __init__(self, inner: Callable[[Any], Any], names: _Names) -> None:
        self.inner = inner
        self.names = names

    def __call__(self, rs: Any) -> Any:
        decision = self.inner(rs)
        if not decision:
            _finished(self.names(rs), rs)
        return decision


class _AsyncRetry(_Retry):
    __slots__ = ()

    async def __call__(self, rs: Any) -> Any:
        decision = await self.inner(rs)
        if not decision:
            _finished(self.names(rs), rs)
        return decision


def _finished(name: str, rs: Any) -> None:
    error = rs.outcome.exception()
    if error is not None:
        retry_abandoned(name, rs.attempt_number, rs.idle_for, error)
    else:
        retry_succeeded(name, rs.attempt_number, rs.idle_for)


class _Stop:
    """Wraps ``stop``: a true answer means the retries are exhausted."""

    __slots__ = ("inner", "names")

    def __init__(self, inner: Callable[[Any], Any], names: _Names) -> None:
        self.inner = inner
        self.names = names

    def __call__(self, rs: Any) -> Any:
        stopped = self.inner(rs)
        if stopped:
            retry_exhausted(self.names(rs), rs.attempt_number, rs.idle_for, _error(rs))
        return stopped


class _AsyncStop(_Stop):
    __slots__ = ()

    async def __call__(self, rs: Any) -> Any:
        stopped = await self.inner(rs)
        if stopped:
            retry_exhausted(self.names(rs), rs.attempt_number, rs.idle_for, _error(rs))
        return stopped


class _BeforeSleep:
    """Runs before the user's ``before_sleep``: a retry is scheduled."""

    __slots__ = ("inner", "names")

    def __init__(self, inner: Callable[[Any], Any] | None, names: _Names) -> None:
        self.inner = inner
        self.names = names

    def __call__(self, rs: Any) -> Any:
        retry_scheduled(self.names(rs), rs.attempt_number, rs.upcoming_sleep, _error(rs))
        return self.inner(rs) if self.inner is not None else None


class _AsyncBeforeSleep(_BeforeSleep):
    __slots__ = ()

    async def __call__(self, rs: Any) -> Any:
        retry_scheduled(self.names(rs), rs.attempt_number, rs.upcoming_sleep, _error(rs))
        return await self.inner(rs)  # type: ignore[misc]


def _controller(target: Any) -> Any:
    try:
        from tenacity import BaseRetrying
    except ImportError as exc:
        raise ImportError(_HINT) from exc
    if isinstance(target, BaseRetrying):
        return target
    controller = getattr(target, "retry", None)
    if isinstance(controller, BaseRetrying):
        return controller
    msg = f"expected a tenacity Retrying/AsyncRetrying or a @retry-decorated function, got {target!r}"
    raise TypeError(msg)


def is_instrumented(target: Any) -> bool:
    return isinstance(_controller(target).retry, _Retry)


def instrument_retrying(target: Any, *, name: str | None = None) -> Any:
    """Instrument a ``Retrying``/``AsyncRetrying`` or a ``@retry``-decorated function in place.

    Returns ``target``. Instrumenting again changes nothing (the first name stays).
    """
    controller = _controller(target)
    if isinstance(controller.retry, _Retry):
        return target
    names = _Names(name)
    sleep_hook = controller.before_sleep
    controller.before_sleep = (_AsyncBeforeSleep if _is_async(sleep_hook) else _BeforeSleep)(sleep_hook, names)
    controller.stop = (_AsyncStop if _is_async(controller.stop) else _Stop)(controller.stop, names)
    controller.retry = (_AsyncRetry if _is_async(controller.retry) else _Retry)(controller.retry, names)
    return target


def uninstrument_retrying(target: Any) -> Any:
    """Restore the original strategies; calls already running keep reporting until they end."""
    controller = _controller(target)
    if isinstance(controller.retry, _Retry):
        controller.retry = controller.retry.inner
        controller.stop = controller.stop.inner
        controller.before_sleep = controller.before_sleep.inner
    return target
