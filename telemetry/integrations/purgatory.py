"""purgatory: the breaker metrics of :mod:`telemetry.breaker` for purgatory's factories.

Usage::

    from purgatory import AsyncCircuitBreakerFactory
    from telemetry.integrations.purgatory import instrument_factory

    breakers = instrument_factory(AsyncCircuitBreakerFactory(default_threshold=5, default_ttl=30))

    @breakers("payments")
    async def charge(order): ...

    async with await breakers.get_breaker("payments"):
        ...

Transitions come from purgatory's event hook (``factory.add_listener``; its states
``opened``/``half-opened``/``closed`` become ``open``/``half_open``/``closed``). purgatory has
no hook for successes or rejections, so the factory's ``get_breaker`` (which its decorator
uses too) hands out breakers wrapped to count each call's outcome and to catch the
``OpenedState`` a rejected call raises. Works with ``AsyncCircuitBreakerFactory`` and
``SyncCircuitBreakerFactory``, in-memory or Redis. Exceptions on purgatory's ``exclude``
list count as failures here (purgatory does not say which ones it excluded).
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any

from telemetry.breaker import Breaker, circuit_breaker
from telemetry.integrations.contract import check_telemetry, enabled, require

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["instrument_factory", "is_instrumented", "uninstrument_factory"]


class _Hook:
    """purgatory's ``hook(circuit_name, event_type, event)``."""

    __slots__ = ()

    def __call__(self, name: str, event_type: str, event: Any) -> None:
        if event_type == "circuit_breaker_created":
            circuit_breaker(name)
        elif event_type == "state_changed":
            if enabled():
                circuit_breaker(name).state_changed(None, event.state)
            else:
                circuit_breaker(name).sync(event.state)  # the state stays right; not recorded


class _Observed:
    """A purgatory breaker that counts the outcome of the block it guards."""

    __slots__ = ("_handle", "_inner", "_rejection")

    def __init__(self, inner: Any, handle: Breaker, rejection: type[BaseException]) -> None:
        self._inner = inner
        self._handle = handle
        self._rejection = rejection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _outcome(self, exc: BaseException | None) -> None:
        if not enabled():
            return
        if exc is None:
            self._handle.succeeded()
        else:
            self._handle.failed(exc)

    async def __aenter__(self) -> _Observed:  # noqa: PYI034 - Self needs Python 3.11
        try:
            await self._inner.__aenter__()
        except self._rejection:
            if enabled():
                self._handle.rejected()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._outcome(exc)
        await self._inner.__aexit__(exc_type, exc, tb)

    def __enter__(self) -> _Observed:  # noqa: PYI034 - Self needs Python 3.11
        try:
            self._inner.__enter__()
        except self._rejection:
            if enabled():
                self._handle.rejected()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._outcome(exc)
        self._inner.__exit__(exc_type, exc, tb)


def _hook(factory: Any) -> _Hook | None:
    return next((hook for hook in factory.listeners if isinstance(hook, _Hook)), None)


def is_instrumented(factory: Any) -> bool:
    """Whether :func:`instrument_factory` instrumented ``factory`` (and it was not undone since)."""
    return _hook(factory) is not None


def instrument_factory(factory: Any, *, telemetry: object = None) -> Any:
    """Instrument a purgatory circuit-breaker factory in place and return it (idempotent).

    Nothing is recorded inside OpenTelemetry's ``suppress_instrumentation()``.
    """
    require("purgatory", "purgatory")
    opened_state = require("purgatory.domain.model", "purgatory", what="the purgatory integration").OpenedState
    check_telemetry(telemetry)
    if _hook(factory) is not None:
        return factory
    factory.add_listener(_Hook())
    get_breaker = type(factory).get_breaker

    def observe(inner: Any, circuit: str) -> _Observed:
        # The context was just loaded by get_breaker: adopting its state costs no storage read.
        return _Observed(inner, circuit_breaker(circuit, state=inner.context.state), opened_state)

    if inspect.iscoroutinefunction(get_breaker):

        @functools.wraps(get_breaker)
        async def get_observed(circuit: str, *args: Any, **kwargs: Any) -> _Observed:
            return observe(await get_breaker(factory, circuit, *args, **kwargs), circuit)

        factory.get_breaker = get_observed
    else:

        @functools.wraps(get_breaker)
        def get_observed_sync(circuit: str, *args: Any, **kwargs: Any) -> _Observed:
            return observe(get_breaker(factory, circuit, *args, **kwargs), circuit)

        factory.get_breaker = get_observed_sync
    return factory


def uninstrument_factory(factory: Any) -> Any:
    """Remove the hook and the observing ``get_breaker`` and return ``factory`` (idempotent)."""
    hook = _hook(factory)
    if hook is not None:
        factory.remove_listener(hook)
        factory.__dict__.pop("get_breaker", None)
    return factory
