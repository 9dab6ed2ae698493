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
from typing import TYPE_CHECKING, Any

from telemetry.integrations.contract import check_telemetry, enabled, require
from telemetry.retry import retry_abandoned, retry_exhausted, retry_scheduled, retry_succeeded

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["instrument_retrying", "is_instrumented", "uninstrument_retrying"]


def _callable_name(fn: Any) -> str:
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    module = getattr(fn, "__module__", None)
    return name if module in (None, "builtins") else f"{module}.{name}"


class _Names:
    """The retry name: the given one, tenacity's ``name=``, or the retried function's."""

    __slots__ = ("_last", "fixed")

    def __init__(self, fixed: str | None) -> None:
        self.fixed = fixed
        self._last: tuple[Any, str] = (None, "<unknown>")  # one tuple: swapped atomically across threads

    def __call__(self, rs: Any) -> str:
        if self.fixed is not None:
            return self.fixed
        fn = rs.fn
        if fn is None:
            return str(rs.retry_object)
        last = self._last
        if last[0] is not fn:
            last = self._last = (fn, _callable_name(fn))
        return last[1]


def _error(rs: Any) -> BaseException | None:
    outcome = rs.outcome
    return outcome.exception() if outcome is not None else None


def _is_async(fn: Any) -> bool:
    """Whether tenacity will await ``fn`` (it checks the same way): then our wrapper must be async too."""
    if fn is None or inspect.isclass(fn):
        return False
    target = fn.func if isinstance(fn, functools.partial) else fn
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(getattr(target, "__call__", None))  # noqa: B004


def _nothing(_rs: Any) -> None:
    """Stands in for an unset ``before_sleep``."""


class _Wrapped:
    """A tenacity callback wrapped to watch its answer; ``seen`` reports and passes it on."""

    __slots__ = ("inner", "names")

    def __init__(self, inner: Callable[[Any], Any], names: _Names) -> None:
        self.inner = inner
        self.names = names

    def seen(self, rs: Any, answer: Any) -> Any:
        raise NotImplementedError

    def __call__(self, rs: Any) -> Any:
        answer = self.inner(rs)
        return self.seen(rs, answer) if enabled() else answer


class _Awaiting(_Wrapped):
    """The same for a coroutine callback: tenacity awaits the wrapper only if it is async itself."""

    __slots__ = ()

    async def __call__(self, rs: Any) -> Any:
        answer = await self.inner(rs)
        return self.seen(rs, answer) if enabled() else answer


class _Retry(_Wrapped):
    """The ``retry`` strategy: a false decision ends the call (success or not retryable)."""

    __slots__ = ()

    def seen(self, rs: Any, answer: Any) -> Any:
        if not answer:
            error = rs.outcome.exception()
            if error is None:
                retry_succeeded(self.names(rs), rs.attempt_number, rs.idle_for)
            else:
                retry_abandoned(self.names(rs), rs.attempt_number, rs.idle_for, error)
        return answer


class _Stop(_Wrapped):
    """``stop``: a true answer means the retries are exhausted."""

    __slots__ = ()

    def seen(self, rs: Any, answer: Any) -> Any:
        if answer:
            retry_exhausted(self.names(rs), rs.attempt_number, rs.idle_for, _error(rs))
        return answer


class _BeforeSleep(_Wrapped):
    """``before_sleep`` (the user's runs first): a retry is scheduled."""

    __slots__ = ()

    def seen(self, rs: Any, answer: Any) -> Any:
        retry_scheduled(self.names(rs), rs.attempt_number, rs.upcoming_sleep, _error(rs))
        return answer


class _AsyncRetry(_Awaiting, _Retry):
    __slots__ = ()


class _AsyncStop(_Awaiting, _Stop):
    __slots__ = ()


class _AsyncBeforeSleep(_Awaiting, _BeforeSleep):
    __slots__ = ()


def _controller(target: Any) -> Any:
    base_retrying = require("tenacity", "tenacity").BaseRetrying
    if isinstance(target, base_retrying):
        return target
    controller = getattr(target, "retry", None)
    if isinstance(controller, base_retrying):
        return controller
    msg = f"expected a tenacity Retrying/AsyncRetrying or a @retry-decorated function, got {target!r}"
    raise TypeError(msg)


def is_instrumented(target: Any) -> bool:
    """Whether :func:`instrument_retrying` instrumented ``target`` (and it was not undone since)."""
    return isinstance(_controller(target).retry, _Retry)


def instrument_retrying(target: Any, *, name: str | None = None, telemetry: object = None) -> Any:
    """Instrument a ``Retrying``/``AsyncRetrying`` or a ``@retry``-decorated function in place.

    Returns ``target``. Instrumenting again changes nothing (the first name stays). Nothing is
    recorded inside OpenTelemetry's ``suppress_instrumentation()``.
    """
    check_telemetry(telemetry)
    controller = _controller(target)
    if isinstance(controller.retry, _Retry):
        return target
    names = _Names(name)
    sleep_hook = controller.before_sleep or _nothing
    controller.before_sleep = (_AsyncBeforeSleep if _is_async(sleep_hook) else _BeforeSleep)(sleep_hook, names)
    controller.stop = (_AsyncStop if _is_async(controller.stop) else _Stop)(controller.stop, names)
    controller.retry = (_AsyncRetry if _is_async(controller.retry) else _Retry)(controller.retry, names)
    return target


def uninstrument_retrying(target: Any) -> Any:
    """Restore the original strategies and return ``target`` (idempotent); calls already
    running keep reporting until they end."""
    controller = _controller(target)
    if isinstance(controller.retry, _Retry):
        controller.retry = controller.retry.inner
        controller.stop = controller.stop.inner
        sleep_hook = controller.before_sleep.inner
        controller.before_sleep = None if sleep_hook is _nothing else sleep_hook
    return target
