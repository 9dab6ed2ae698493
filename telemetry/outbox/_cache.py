"""A reading refreshed off the scrape path: the scrape waits at most ``timeout`` and otherwise
answers with the last good value, flagged stale.

Scrape-time collectors (outbox backlog, DLQ depth) call :meth:`CachedReading.get` from
``collect()``. The read itself runs in a short-lived daemon thread, one at a time; a read that
outlives the timeout keeps running and fills the cache for the next scrape, so a slow database
or broker never holds a scrape (nor the event loop serving ``/metrics``) longer than
``timeout``, and never piles up concurrent queries.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Generic, TypeVar

from telemetry.labels import error_type

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["CachedReading"]

T = TypeVar("T")
_log = logging.getLogger("telemetry.outbox")


class CachedReading(Generic[T]):
    """``get()`` -> ``(value or None, stale)``; ``value`` is ``None`` until a read succeeded.

    Args:
        read: the blocking read (a query, a broker round trip).
        timeout: the longest a ``get()`` waits for a read in flight.
        min_interval: reads start at most this often; scrapes in between reuse the value.
        what: a name for log lines.
    """

    def __init__(self, read: Callable[[], T], *, timeout: float, min_interval: float, what: str) -> None:
        self._read = read
        self.timeout = timeout
        self.min_interval = min_interval
        self.what = what
        self._lock = threading.Lock()
        self._value: T | None = None
        self._stale = True
        self._failing = False
        self._started = float("-inf")
        self._inflight: threading.Event | None = None

    def _run(self, done: threading.Event) -> None:
        try:
            value = self._read()
        except Exception as exc:
            with self._lock:
                self._stale = True
                first = not self._failing
                self._failing = True
            if first:
                # One line per outage, not one per scrape; the stale gauge carries the rest.
                _log.warning("%s read failed with %s; serving the cached value", self.what, error_type(exc))
        else:
            with self._lock:
                self._value, self._stale = value, False
                recovered, self._failing = self._failing, False
            if recovered:
                _log.info("%s read recovered", self.what)
        finally:
            with self._lock:
                self._inflight = None
            done.set()

    def get(self) -> tuple[T | None, bool]:
        now = time.monotonic()
        with self._lock:
            done = self._inflight
            if done is None and now - self._started >= self.min_interval:
                self._started = now
                done = self._inflight = threading.Event()
                threading.Thread(target=self._run, args=(done,), name=f"telemetry-{self.what}", daemon=True).start()
        if done is not None and not done.wait(self.timeout):
            with self._lock:
                if not self._failing:
                    _log.warning("%s read exceeded %.1fs; serving the cached value", self.what, self.timeout)
                self._stale = self._failing = True
        with self._lock:
            return self._value, self._stale

    def wait_idle(self, timeout: float) -> bool:
        """Wait for a read in flight to finish (tests, shutdown); ``True`` if none is left."""
        with self._lock:
            done = self._inflight
        return done is None or done.wait(timeout)
