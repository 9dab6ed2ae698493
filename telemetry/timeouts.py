"""Timeouts: operations that ran out of their time budget, by operation, with the budget and
the elapsed time.

Usage::

    import telemetry

    async with telemetry.timeout("db.orders.insert", 2.0):     # asyncio.timeout, reported
        await session.execute(insert_order)

    rate = await telemetry.wait_for(fetch_rate(), 1.5, operation="rates.fetch")

    # a home-grown timeout reports in one line per fact
    budget = telemetry.time_budget("payments.charge", 5.0)
    budget.finished(elapsed)          # within the budget (error=exc if it failed otherwise)
    budget.expired(elapsed)           # the budget ran out

Every operation gets ``resilience_timeout_calls_total{timeout_operation, outcome}`` with
``success``, ``failure`` and ``timeout`` at zero from its first use, the elapsed-time histogram
and its budget as a gauge; a timeout is also a span event and a WARNING line. Only the budget
this helper set counts as ``timeout``: a ``TimeoutError`` raised inside (a pool checkout, a
client's own timeout) is a ``failure`` here, because those timeouts have their own metrics and
must not be counted twice. Cancellation from outside is not an outcome and is not counted.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING, Any, Final, TypeVar

from telemetry import catalog
from telemetry._handles import current_instruments, named
from telemetry.containment import contained
from telemetry.events.timeout import OperationTimedOut
from telemetry.recorder import record

if TYPE_CHECKING:
    from collections.abc import Awaitable
    from types import TracebackType

    from telemetry.metrics import Instruments

__all__ = ["TimeBudget", "time_budget", "timeout", "wait_for"]

T = TypeVar("T")
_KIND: Final = "telemetry.timeouts"


class TimeBudget:
    """Telemetry for one operation run under a time budget. Get it with :func:`time_budget`."""

    __slots__ = ("_bound", "_lock", "budget", "operation")

    def __init__(self, operation: str, budget: float) -> None:
        self.operation = operation
        self.budget = float(budget)
        self._lock = threading.Lock()
        self._bound: tuple[Instruments, Any, Any, Any] | None = None

    def __repr__(self) -> str:
        return f"<TimeBudget {self.operation!r} {self.budget}s>"

    def _bind(self) -> tuple[Instruments, Any, Any, Any]:
        """Pre-bind the hot-path children in the current registry; every outcome exists at 0."""
        instruments = current_instruments()
        bound = self._bound
        if bound is None or bound[0] is not instruments:
            with self._lock:
                label = instruments.admit(catalog.TIMEOUT_OPERATION, self.operation)
                instruments.child(catalog.TIMEOUT_CALLS, label, "timeout")
                instruments.set(catalog.TIMEOUT_BUDGET, self.budget, label)
                bound = self._bound = (
                    instruments,
                    instruments.child(catalog.TIMEOUT_CALLS, label, "success").inc,
                    instruments.child(catalog.TIMEOUT_CALLS, label, "failure").inc,
                    instruments.child(catalog.TIMEOUT_DURATION, label).observe,
                )
        return bound

    def set_budget(self, budget: float) -> None:
        """Report a new budget for the operation (configuration changed, or a per-call deadline)."""
        try:
            if float(budget) != self.budget:
                self.budget = float(budget)
                instruments = self._bind()[0]
                label = instruments.admit(catalog.TIMEOUT_OPERATION, self.operation)
                instruments.set(catalog.TIMEOUT_BUDGET, self.budget, label)
        except Exception:
            contained("a time budget")

    def finished(self, elapsed: float, error: BaseException | None = None) -> None:
        """The operation ended within its budget after ``elapsed`` seconds; ``error`` if it failed.

        The hot path: two pre-bound children, no span event, no log line (the error, if any,
        is the caller's to report).
        """
        try:
            _, success, failure, observe = self._bind()
            (success if error is None else failure)()
            observe(elapsed)
        except Exception:
            contained("a time budget")

    def expired(self, elapsed: float | None = None) -> None:
        """The budget ran out after ``elapsed`` seconds (the budget itself when not given)."""
        try:
            self._bind()
            spent = self.budget if elapsed is None else elapsed
            record(OperationTimedOut(operation=self.operation, budget=self.budget, elapsed=spent))
        except Exception:
            contained("a timeout")


def time_budget(operation: str, budget: float) -> TimeBudget:
    """The handle of ``operation`` (one per name), its series created at zero.

    A different ``budget`` than the handle holds updates it (the gauge shows the latest).
    """
    found = named(_KIND, operation, lambda: TimeBudget(operation, budget))
    found.set_budget(budget)
    try:
        found._bind()
    except Exception:
        contained("a time budget")
    return found


class _Timeout:
    """``asyncio.timeout(budget)`` that reports how the block ended (see :func:`timeout`)."""

    __slots__ = ("_handle", "_inner", "_started")

    def __init__(self, handle: TimeBudget) -> None:
        self._handle = handle
        self._inner: Any = None
        self._started = 0.0

    async def __aenter__(self) -> None:
        self._inner = asyncio.timeout(self._handle.budget)
        await self._inner.__aenter__()
        self._started = time.perf_counter()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        try:
            await self._inner.__aexit__(exc_type, exc, tb)
        except TimeoutError as raised:
            elapsed = time.perf_counter() - self._started
            if self._inner.expired():
                self._handle.expired(elapsed)
            else:
                self._handle.finished(elapsed, raised)
            raise
        elapsed = time.perf_counter() - self._started
        if exc is None:
            self._handle.finished(elapsed)
        elif isinstance(exc, Exception):
            self._handle.finished(elapsed, exc)
        return None


def timeout(operation: str, budget: float) -> _Timeout:
    """An async context manager: :func:`asyncio.timeout` for ``budget`` seconds, reported.

    Raises ``TimeoutError`` when the budget runs out, exactly as ``asyncio.timeout`` does.
    Needs Python 3.11 or later (``asyncio.timeout``); on 3.10 use :func:`wait_for`.
    """
    if not hasattr(asyncio, "timeout"):
        msg = "telemetry.timeout() needs asyncio.timeout (Python 3.11+); use telemetry.wait_for() on 3.10"
        raise RuntimeError(msg)
    return _Timeout(time_budget(operation, budget))


async def wait_for(aw: Awaitable[T], budget: float, *, operation: str) -> T:
    """``await asyncio.wait_for(aw, budget)``, reported under ``operation``."""
    if hasattr(asyncio, "timeout"):
        async with timeout(operation, budget):
            return await aw
    handle = time_budget(operation, budget)  # Python 3.10: no asyncio.timeout to ask
    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(aw, budget)
    except TimeoutError as exc:
        elapsed = time.perf_counter() - started
        if elapsed >= budget:
            handle.expired(elapsed)
        else:
            handle.finished(elapsed, exc)
        raise
    except Exception as exc:
        handle.finished(time.perf_counter() - started, exc)
        raise
    handle.finished(time.perf_counter() - started)
    return result
