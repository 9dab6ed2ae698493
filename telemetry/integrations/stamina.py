"""stamina: scheduled retries through its instrumentation hooks, outcomes through a decorator.

Usage::

    from telemetry.integrations.stamina import instrument_stamina, retry

    instrument_stamina()      # every stamina retry is counted, evented and logged

    @retry(on=httpx.HTTPError, attempts=3)   # stamina.retry + outcomes
    async def fetch(url: str) -> bytes: ...

:func:`instrument_stamina` appends one hook to stamina's on-retry hooks and keeps the ones already
there (stamina's own ``stamina_retries_total`` counter and structlog line stay as they are;
ours are different series, so nothing is counted twice). stamina's hooks only run when a
retry is scheduled; they never see a success after retries or an exhaustion. :func:`retry`
is ``stamina.retry`` plus that: it counts the attempts of each call and reports how the
call ended. Both report under stamina's own callable name (``module.qualname``), and neither
inside OpenTelemetry's ``suppress_instrumentation()``. stamina's hooks are process-wide, so
there is no object to pass: ``instrument_stamina()`` takes none.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar

from telemetry.containment import contained
from telemetry.integrations.contract import check_telemetry, enabled, require
from telemetry.retry import retry_abandoned, retry_exhausted, retry_scheduled, retry_succeeded

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["instrument_stamina", "is_instrumented", "retry", "uninstrument_stamina"]

F = TypeVar("F", bound="Callable[..., Any]")


@dataclass(slots=True)
class _Call:
    """One decorated call: its name, attempts so far and the backoff stamina scheduled."""

    name: str
    attempts: int = 0
    waited: float = 0.0
    retryable: bool | None = None


_current: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("telemetry_stamina_call", default=None)


class _Hook:
    """stamina ``RetryHook``: a plain callable (context-manager hooks are avoided on purpose)."""

    __slots__ = ()

    def __call__(self, details: Any) -> None:
        try:
            if not enabled():
                return
            call = _current.get()
            name = details.name
            if call is not None:
                call.waited += details.wait_for
                name = call.name
            retry_scheduled(name, details.retry_num, details.wait_for, details.caused_by)
        except Exception:
            contained("a stamina retry")


_HOOK: Final = _Hook()


def _instrumentation() -> Any:
    """``stamina.instrumentation``, or the install hint (``stamina`` is imported first)."""
    require("stamina", "stamina")
    return require("stamina.instrumentation", "stamina", what="the stamina integration")


def _hooks() -> tuple[Any, ...]:
    return tuple(_instrumentation().get_on_retry_hooks())


def is_instrumented() -> bool:
    """Whether our hook is among stamina's active on-retry hooks."""
    return any(hook is _HOOK for hook in _hooks())


def instrument_stamina(*, telemetry: object = None) -> None:
    """Add our hook to stamina's active hooks (its defaults included); idempotent."""
    check_telemetry(telemetry)
    hooks = _hooks()
    if not any(hook is _HOOK for hook in hooks):
        _instrumentation().set_on_retry_hooks((*hooks, _HOOK))


def uninstrument_stamina() -> None:
    """Remove our hook, leaving stamina's other hooks in place; idempotent."""
    hooks = _hooks()
    if any(hook is _HOOK for hook in hooks):
        _instrumentation().set_on_retry_hooks(tuple(hook for hook in hooks if hook is not _HOOK))


def _guess_name(fn: Any) -> str:
    # stamina's own naming (``stamina.instrumentation._data.guess_name``), so both halves agree.
    name = getattr(fn, "__qualname__", None) or "<unnamed object>"
    module = getattr(fn, "__module__", None) or "<unknown module>"
    return name if module == "builtins" else f"{module}.{name}"


def _ended(call: _Call, error: BaseException | None, on: Any) -> None:
    if not enabled() or not is_instrumented():
        return
    if error is None:
        retry_succeeded(call.name, call.attempts, call.waited)
        return
    retryable = call.retryable
    if retryable is None:
        retryable = isinstance(on, type | tuple) and isinstance(error, on)
    if retryable:
        retry_exhausted(call.name, call.attempts, call.waited, error)
    else:
        retry_abandoned(call.name, call.attempts, call.waited, error)


def _deciding(on: Any) -> Any:
    """Wrap a backoff hook (``on=`` callable) to remember its last decision; classes pass as-is."""
    if isinstance(on, type | tuple):
        return on

    @functools.wraps(on)
    def decide(exc: Exception) -> Any:
        answer = on(exc)
        call = _current.get()
        if call is not None:
            call.retryable = answer is not None and answer is not False
        return answer

    return decide


def _count_attempt() -> None:
    call = _current.get()
    if call is not None:
        call.attempts += 1
        call.retryable = None


@contextlib.contextmanager
def _observing(name: str, on: Any) -> Iterator[None]:
    """One decorated call: attempts and backoff gather in a context variable, reported at the end."""
    call = _Call(name)
    token = _current.set(call)
    try:
        yield
    except BaseException as exc:
        _current.reset(token)
        _ended(call, exc, on)
        raise
    _current.reset(token)
    _ended(call, None, on)


def _observe_async(fn: Any, retrying: Any, on: Any, name: str) -> Any:
    @functools.wraps(fn)
    async def attempt(*args: Any, **kwargs: Any) -> Any:
        _count_attempt()
        return await fn(*args, **kwargs)

    retried = retrying(attempt)

    @functools.wraps(fn)
    async def observed(*args: Any, **kwargs: Any) -> Any:
        with _observing(name, on):
            return await retried(*args, **kwargs)

    return observed


def _observe_sync(fn: Any, retrying: Any, on: Any, name: str) -> Any:
    @functools.wraps(fn)
    def attempt(*args: Any, **kwargs: Any) -> Any:
        _count_attempt()
        return fn(*args, **kwargs)

    retried = retrying(attempt)

    @functools.wraps(fn)
    def observed(*args: Any, **kwargs: Any) -> Any:
        with _observing(name, on):
            return retried(*args, **kwargs)

    return observed


def retry(*, on: Any, **stamina_options: Any) -> Callable[[F], F]:
    """``stamina.retry(on=..., **options)`` that also reports how each call ended.

    Sync and ``async`` functions; generators are not supported (use ``stamina.retry``, the
    hook still reports their scheduled retries). Reports nothing unless
    :func:`instrument_stamina` ran, so uninstrumenting silences the decorator too.
    """
    stamina = require("stamina", "stamina")
    retrying = stamina.retry(on=_deciding(on), **stamina_options)

    def decorate(fn: F) -> F:
        if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
            msg = f"{fn!r} is a generator: decorate it with stamina.retry directly"
            raise TypeError(msg)
        observe = _observe_async if inspect.iscoroutinefunction(fn) else _observe_sync
        return observe(fn, retrying, on, _guess_name(fn))  # type: ignore[no-any-return]

    return decorate
