"""Readings taken at scrape time: a cache that never holds a scrape, and one collector per
registry serving every watched source (outbox tables, dead-letter queues).

A reading refreshed off the scrape path: the scrape waits at most ``timeout`` and otherwise
answers with the last good value, flagged stale.

Scrape-time collectors (outbox backlog, DLQ depth) call :meth:`CachedReading.get` from
``collect()``. The read itself runs in a short-lived daemon thread, one at a time; a read that
outlives the timeout keeps running and fills the cache for the next scrape, so a slow database
or broker never holds a scrape longer than ``timeout`` (and later scrapes not at all while that
read hangs), and never piles up concurrent queries. The FastAPI ``/metrics`` route renders in a
worker thread, so even that one wait never holds the event loop serving the requests.

:func:`watch` / :func:`unwatch` keep, per registry, one :class:`WatchSet` collector that merges
the samples of every watched source into one family per metric: two ``watch_outbox`` calls for
two tables give two ``outbox_table`` series instead of a second collector that the registry
refuses (``Duplicated timeseries``). The sets live in :data:`telemetry.state.STATE`, so
``state.reset()`` forgets them.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

from telemetry.labels import error_type
from telemetry.state import LOCK, STATE

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

__all__ = ["CachedReading", "Source", "WatchSet", "instruments_of", "unwatch", "watch", "watched"]

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
        """The last reading and whether it is stale; starts a read when one is due.

        It waits for the read in flight at most until that read's own deadline (started +
        ``timeout``): a read already past it is not waited on again, so a hung database costs
        the first scrape of the outage ``timeout`` and the next ones nothing. Render scrapes
        in a worker thread (the FastAPI ``/metrics`` route does), never on an event loop.
        """
        now = time.monotonic()
        with self._lock:
            done = self._inflight
            if done is None and now - self._started >= self.min_interval:
                self._started = now
                done = self._inflight = threading.Event()
                threading.Thread(target=self._run, args=(done,), name=f"telemetry-{self.what}", daemon=True).start()
            deadline = self._started + self.timeout
        finished = done is None or done.wait(max(0.0, deadline - time.monotonic()))
        if not finished and time.monotonic() >= deadline:
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


class Source(Protocol):
    """A scrape-time collector one :class:`WatchSet` serves (``close()`` frees what it holds)."""

    def collect(self) -> Iterable[Any]: ...
    def close(self) -> None: ...


class WatchSet:
    """One prometheus-client collector for every source watched in one registry.

    ``label`` is the label that tells sources apart (``outbox_table``, ``queue``); a source
    may serve several names (one DLQ reader for several queues), and only the samples of the
    names still watched are exported.
    """

    # Several workers: one table / queue for all of them, read by one worker only.
    multiprocess_shared = True

    def __init__(self, label: str, describe: Callable[[], list[Any]]) -> None:
        self.label = label
        self._describe = describe
        self._lock = threading.Lock()
        self.sources: dict[str, Source] = {}

    def describe(self) -> list[Any]:
        # Names only: registering must not read anything.
        return self._describe()

    def add(self, names: Iterable[str], source: Source) -> None:
        with self._lock:
            self.sources.update(dict.fromkeys(names, source))

    def remove(self, names: Iterable[str]) -> tuple[dict[str, Source], list[Source]]:
        """Forget ``names``; returns what was removed and the sources no name uses any more."""
        with self._lock:
            removed = {name: self.sources.pop(name) for name in names if name in self.sources}
            still = {id(source) for source in self.sources.values()}
        orphans = {id(s): s for s in removed.values() if id(s) not in still}
        return removed, list(orphans.values())

    def collect(self) -> Iterator[Any]:
        with self._lock:
            names: dict[int, set[str]] = {}
            by_id: dict[int, Source] = {}
            for name, source in self.sources.items():
                names.setdefault(id(source), set()).add(name)
                by_id[id(source)] = source
        merged: dict[str, Any] = {}
        for key, source in by_id.items():
            for item in source.collect():
                keep = [s for s in item.samples if s.labels.get(self.label) in names[key]]
                into = merged.setdefault(item.name, item)
                if into is item:
                    item.samples = keep
                else:
                    into.samples.extend(keep)
        yield from (item for item in merged.values() if item.samples)


S = TypeVar("S", bound=Source)


def _sets(kind: str) -> dict[int, tuple[Any, WatchSet]]:
    found: dict[int, tuple[Any, WatchSet]] = STATE.extra.setdefault(f"telemetry.watch.{kind}", {})
    return found


def instruments_of(telemetry: Any) -> Any:
    """The registry wrapper of ``telemetry`` (a :class:`telemetry.bootstrap.Telemetry`), else of
    the current set-up (made with defaults if there is none)."""
    if telemetry is None:
        from telemetry.bootstrap import setup

        telemetry = setup()
    return telemetry.instruments


def watch(
    kind: str,
    telemetry: Any,
    names: Iterable[str],
    make: Callable[[list[str]], S],
    *,
    label: str,
    describe: Callable[[], list[Any]],
) -> dict[str, S]:
    """Serve ``names`` from the set-up's registry; names already watched there keep their
    source (idempotent), the others get one new ``make(new_names)``. Returns the sources by name.

    ``telemetry`` is the set-up whose registry serves them (``None``: the current one).
    """
    instruments = instruments_of(telemetry)
    with LOCK:
        sets = _sets(kind)
        entry = sets.get(id(instruments))
        if entry is None or entry[0] is not instruments:
            entry = sets[id(instruments)] = (instruments, WatchSet(label, describe))
        watch_set = entry[1]
        wanted = list(dict.fromkeys(names))
        new = [name for name in wanted if name not in watch_set.sources]
        if new:
            watch_set.add(new, make(new))
        instruments.register(watch_set)
        # Each kind's sources all come from that kind's one ``make``: they are all an ``S``.
        return {name: cast("S", watch_set.sources[name]) for name in wanted}


def unwatch(kind: str, telemetry: Any, names: Iterable[str]) -> list[str]:
    """Stop serving ``names``; returns those that were watched. A source no name uses any more
    is closed, and the set leaves the registry with its last name."""
    instruments = instruments_of(telemetry)
    with LOCK:
        sets = _sets(kind)
        entry = sets.get(id(instruments))
        if entry is None or entry[0] is not instruments:
            return []
        watch_set = entry[1]
        removed, orphans = watch_set.remove(names)
        for source in orphans:
            source.close()
        if not watch_set.sources:
            instruments.unregister(watch_set)
            del sets[id(instruments)]
        return list(removed)


def watched(kind: str, telemetry: Any = None) -> list[str]:
    """The names the set-up's registry serves for ``kind``, in the order they were watched."""
    instruments = instruments_of(telemetry)
    entry = _sets(kind).get(id(instruments))
    return list(entry[1].sources) if entry is not None and entry[0] is instruments else []
