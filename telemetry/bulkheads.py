"""Bulkheads (concurrency limits): in-flight calls and the limit, rejected and queued calls,
and the time queued calls waited.

Usage::

    import telemetry

    payments = telemetry.bulkhead("payments", 10, max_queue=20, queue_timeout=2.0)

    async with payments:              # at most 10 at once, 20 more wait up to 2 s each,
        await charge(order)           # the rest get telemetry.BulkheadFullError

    # a home-grown limit (the service's own semaphore) reports in one line per fact
    slots = telemetry.bulkhead_reporter("pdf-render", limit=4)
    slots.queued()                    # a call started waiting
    slots.entered(waited=0.3)         # ... and got a place after 0.3 s (waited=None: no wait)
    slots.exited()                    # the call left
    slots.rejected("queue_timeout", waited=2.0)

``resilience_bulkhead_in_flight`` and ``resilience_bulkhead_limit`` give the saturation,
``resilience_bulkhead_calls_total{outcome}`` (``admitted`` and ``rejected`` at zero from the
start) the rejections, ``resilience_bulkhead_queued`` the calls waiting now and
``resilience_bulkhead_queue_wait_time_seconds`` how long the ones that queued waited. Entering
and leaving only move pre-bound children; a rejection is also a span event and a WARNING line.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING, Any, Final

from telemetry import catalog
from telemetry._handles import current_instruments, named
from telemetry.containment import contained
from telemetry.events.bulkhead import REJECTION_REASONS, BulkheadCallRejected
from telemetry.recorder import record

if TYPE_CHECKING:
    from types import TracebackType

    from telemetry.metrics import Instruments

__all__ = ["Bulkhead", "BulkheadFullError", "BulkheadReporter", "bulkhead", "bulkhead_reporter"]

_KIND: Final = "telemetry.bulkheads.reporter"
_LIMITERS: Final = "telemetry.bulkheads"


class BulkheadFullError(RuntimeError):
    """A :class:`Bulkhead` refused the call; ``reason`` is ``full``, ``queue_full`` or ``queue_timeout``."""

    def __init__(self, name: str, limit: int, reason: str) -> None:
        self.name, self.limit, self.reason = name, limit, reason
        super().__init__(f"bulkhead {name!r} refused the call ({reason}; limit {limit})")


class BulkheadReporter:
    """Telemetry for one bulkhead, by name. Get it with :func:`bulkhead_reporter`.

    The handle counts in-flight and queued calls itself and sets the gauges from its counts,
    so a new registry (a new set-up) shows the true numbers instead of starting from zero.
    """

    __slots__ = ("_bound", "_in_flight", "_lock", "_queued", "limit", "name")

    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.limit = int(limit)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._queued = 0
        self._bound: tuple[Instruments, Any, Any, Any, Any] | None = None

    def __repr__(self) -> str:
        return f"<BulkheadReporter {self.name!r} {self._in_flight}/{self.limit}>"

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        return self._queued

    def _bind(self) -> tuple[Instruments, Any, Any, Any, Any]:
        instruments = current_instruments()
        bound = self._bound
        if bound is None or bound[0] is not instruments:
            with self._lock:
                label = instruments.admit(catalog.BULKHEAD_NAME, self.name)
                instruments.set(catalog.BULKHEAD_LIMIT, self.limit, label)
                instruments.child(catalog.BULKHEAD_CALLS, label, "rejected")
                in_flight = instruments.child(catalog.BULKHEAD_IN_FLIGHT, label)
                queued = instruments.child(catalog.BULKHEAD_QUEUED, label)
                in_flight.set(self._in_flight)
                queued.set(self._queued)
                bound = self._bound = (
                    instruments,
                    instruments.child(catalog.BULKHEAD_CALLS, label, "admitted").inc,
                    in_flight.set,
                    queued.set,
                    instruments.child(catalog.BULKHEAD_QUEUE_WAIT, label).observe,
                )
        return bound

    def set_limit(self, limit: int) -> None:
        """Report a new limit (the service resized its semaphore)."""
        try:
            self.limit = int(limit)
            instruments = self._bind()[0]
            instruments.set(catalog.BULKHEAD_LIMIT, self.limit, instruments.admit(catalog.BULKHEAD_NAME, self.name))
        except Exception:
            contained("a bulkhead limit")

    def queued(self) -> None:
        """A call found the bulkhead full and started waiting for a place."""
        try:
            set_queued = self._bind()[3]
            with self._lock:
                self._queued += 1
                set_queued(self._queued)
        except Exception:
            contained("a bulkhead queue")

    def _dequeue(self) -> None:
        set_queued = self._bind()[3]
        with self._lock:
            self._queued = max(0, self._queued - 1)
            set_queued(self._queued)

    def entered(self, waited: float | None = None) -> None:
        """A call got a place; ``waited`` is how long it queued (``None``: it did not queue)."""
        try:
            _, admitted, set_in_flight, _, observe = self._bind()
            if waited is not None:
                self._dequeue()
                observe(waited)
            admitted()
            with self._lock:
                self._in_flight += 1
                set_in_flight(self._in_flight)
        except Exception:
            contained("a bulkhead entry")

    def exited(self) -> None:
        """A call left the bulkhead."""
        try:
            set_in_flight = self._bind()[2]
            with self._lock:
                self._in_flight = max(0, self._in_flight - 1)
                set_in_flight(self._in_flight)
        except Exception:
            contained("a bulkhead exit")

    def rejected(self, reason: str = "full", waited: float | None = None) -> None:
        """A call was refused: ``full`` (no queue), ``queue_full`` or ``queue_timeout`` (after
        ``waited`` seconds in the queue)."""
        try:
            self._bind()
            if waited is not None:
                self._dequeue()
            record(
                BulkheadCallRejected(
                    bulkhead=self.name,
                    limit=self.limit,
                    in_flight=self._in_flight,
                    reason=reason if reason in REJECTION_REASONS else "full",
                    waited=waited,
                )
            )
        except Exception:
            contained("a bulkhead rejection")


def bulkhead_reporter(name: str, limit: int) -> BulkheadReporter:
    """The telemetry handle of bulkhead ``name`` (one per name), its series created at zero.

    A different ``limit`` than the handle holds updates it.
    """
    found = named(_KIND, name, lambda: BulkheadReporter(name, limit))
    if found.limit != int(limit):
        found.set_limit(limit)
    try:
        found._bind()
    except Exception:
        contained("a bulkhead")
    return found


class Bulkhead:
    """An asyncio concurrency limit that reports itself. Get it with :func:`bulkhead`.

    ``limit`` calls run at once; up to ``max_queue`` more wait for a place, each for at most
    ``queue_timeout`` seconds (``None``: as long as it takes); any other call is refused at
    once with :class:`BulkheadFullError`. The defaults (no queue) are Resilience4j's and
    Polly's: a full bulkhead refuses.
    """

    __slots__ = ("_semaphore", "_waiting", "limit", "max_queue", "queue_timeout", "reporter")

    def __init__(self, name: str, limit: int, *, max_queue: int = 0, queue_timeout: float | None = None) -> None:
        if limit < 1:
            msg = f"bulkhead {name!r}: limit must be at least 1, got {limit}"
            raise ValueError(msg)
        if max_queue < 0:
            msg = f"bulkhead {name!r}: max_queue must not be negative, got {max_queue}"
            raise ValueError(msg)
        self.limit = limit
        self.max_queue = max_queue
        self.queue_timeout = queue_timeout
        self.reporter = bulkhead_reporter(name, limit)
        self._semaphore = asyncio.Semaphore(limit)
        self._waiting = 0

    @property
    def name(self) -> str:
        return self.reporter.name

    def __repr__(self) -> str:
        return f"<Bulkhead {self.name!r} {self.reporter.in_flight}/{self.limit}, {self._waiting} waiting>"

    async def __aenter__(self) -> None:
        if not self._semaphore.locked():
            await self._semaphore.acquire()  # a free place: returns without suspending
            self.reporter.entered()
            return
        if self._waiting >= self.max_queue:
            reason = "queue_full" if self.max_queue else "full"
            self.reporter.rejected(reason)
            raise BulkheadFullError(self.name, self.limit, reason)
        self._waiting += 1
        self.reporter.queued()
        started = time.perf_counter()
        try:
            if self.queue_timeout is None:
                await self._semaphore.acquire()
            else:
                await asyncio.wait_for(self._semaphore.acquire(), self.queue_timeout)
        except TimeoutError:
            self.reporter.rejected("queue_timeout", time.perf_counter() - started)
            raise BulkheadFullError(self.name, self.limit, "queue_timeout") from None
        except BaseException:
            self.reporter._dequeue()  # cancelled while waiting: it neither entered nor was refused
            raise
        finally:
            self._waiting -= 1
        self.reporter.entered(time.perf_counter() - started)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._semaphore.release()
        self.reporter.exited()


def bulkhead(name: str, limit: int, *, max_queue: int = 0, queue_timeout: float | None = None) -> Bulkhead:
    """The process's one :class:`Bulkhead` called ``name``, created on first use.

    Asking again with another configuration is a programmer error (two call sites would think
    they share a limit they do not): ``ValueError``.
    """
    found = named(_LIMITERS, name, lambda: Bulkhead(name, limit, max_queue=max_queue, queue_timeout=queue_timeout))
    if (found.limit, found.max_queue, found.queue_timeout) != (limit, max_queue, queue_timeout):
        msg = (
            f"bulkhead {name!r} exists with limit={found.limit}, max_queue={found.max_queue}, "
            f"queue_timeout={found.queue_timeout}"
        )
        raise ValueError(msg)
    return found
