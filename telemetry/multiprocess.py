"""Several worker processes, one ``/metrics``: prometheus-client's multiprocess mode.

Under gunicorn or ``uvicorn --workers N`` each worker has its own memory, so a scrape that
lands on one worker would see only its share. In multiprocess mode every worker writes its
values to memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR`` and every scrape (on any
worker, or on :func:`telemetry.exposition.serve_metrics`) adds them up.

Usage (gunicorn, ``gunicorn.conf.py``)::

    from telemetry import multiprocess

    multiprocess.prepare("/run/myapp/metrics")   # in the master, before workers start
    child_exit = multiprocess.child_exit           # gunicorn server hook

Usage (uvicorn): set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory in the environment
that starts ``uvicorn --workers N`` (or call :func:`prepare` in the launching script). uvicorn
has no ``child_exit`` hook; :func:`~telemetry.exposition.render` calls
:func:`sweep_dead_workers` on every scrape, which does the same bookkeeping for workers that
died or were restarted. A worker's own live files go at its ASGI lifespan shutdown
(:func:`process_exit`, hooked by :func:`telemetry.instrument_app`), the only exit step uvicorn
runs on SIGTERM; outside an ASGI app, :func:`cleanup_at_exit` does it at normal exit.

What adds up how (prometheus-client's rules, which this package follows):

* counters and histograms: summed over every worker that ever lived since :func:`prepare`, so
  a restarted worker's counts are not lost and ``rate()`` stays right;
* up-down counters (``db.client.connection.pending_requests``): ``livesum``, the sum over
  live workers;
* gauges: ``livemax``, the maximum over live workers (``resilience.degraded`` is 1 while any
  live worker is degraded); gauges holding a timestamp (the outbox relay heartbeat) use
  ``max`` over all workers, so a dead relay's heartbeat goes stale instead of vanishing;
* scrape-time values of objects that live in one worker (breaker state and time in state,
  pool sizes) are written to the files by a :class:`Publisher` thread in each worker, every
  :data:`PUBLISH_INTERVAL` seconds and at once on a breaker transition, with a
  ``worker="<pid>"`` label: every scrape, whichever worker answers, shows every live worker's
  breakers and pools; a dead worker's gauges go with its live files, its time-in-state counter
  stays like any counter. Rules that ask "open in any worker" take ``min``/``max`` over
  ``worker``; pool saturation is per worker, ``sum without (worker)`` gives the pod's total;
* scrape-time readings of shared things (outbox backlog, DLQ depth: one table, one queue for
  every worker) are read by one worker only, the holder of an ``flock`` on the directory
  (another worker takes over when it dies), and exported without a ``worker`` label
  (``livemostrecent``): the real count once, never N times;
* exemplars are not in the multiprocess files: each worker keeps its latest ones in memory
  (:class:`telemetry.metrics.ExemplarStore`) and an OpenMetrics scrape carries those of the
  worker that answers it, on the summed values; over successive scrapes every worker's show.

What is cleaned and what is not: :func:`mark_process_dead` (gunicorn's ``child_exit``, the
scrape-time sweep, the ASGI lifespan shutdown that :func:`telemetry.instrument_app` hooks, or
normal exit) deletes the dead pid's ``gauge_live*_<pid>.db`` files. uvicorn re-raises SIGTERM
after its graceful shutdown, so ``atexit`` never runs there: the lifespan hook
(:func:`process_exit`) is what cleans up. Counter, histogram and ``max`` gauge files of dead
workers stay, by design, until the next :func:`prepare` (the next start of the server); one
such set exists per worker pid that ever ran, so their number grows with worker restarts
(``max_requests`` recycling), not with traffic, and a restart of the server brings it back
to zero.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

__all__ = [
    "PUBLISH_INTERVAL",
    "WORKER_LABEL",
    "Publisher",
    "child_exit",
    "cleanup_at_exit",
    "directory",
    "mark_process_dead",
    "prepare",
    "process_exit",
    "publish",
    "publish_soon",
    "publisher",
    "sweep_dead_workers",
]

_LIVE_FILE: Final = re.compile(r"gauge_live[a-z]+_(\d+)\.db")
_registered_exit: set[int] = set()


def directory() -> Path | None:
    """The multiprocess directory from the environment, or ``None`` when the mode is off."""
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")  # noqa: SIM112 - the legacy name
    return Path(value) if value else None


def prepare(path: str | os.PathLike[str] | None = None) -> Path:
    """Create the directory, delete files left by a previous run, and export
    ``PROMETHEUS_MULTIPROC_DIR`` for the workers.

    Call it once in the parent process, before any worker starts and before anything in
    this process imports prometheus-client (it picks its storage at import time).
    """
    chosen = Path(path) if path is not None else directory()
    if chosen is None:
        msg = "pass a directory or set PROMETHEUS_MULTIPROC_DIR"
        raise ValueError(msg)
    chosen.mkdir(parents=True, exist_ok=True)
    for stale in chosen.glob("*.db"):
        stale.unlink(missing_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(chosen)
    return chosen


def mark_process_dead(pid: int, path: str | os.PathLike[str] | None = None) -> None:
    """Delete the live-gauge files of the dead worker ``pid`` (counters stay: see the module doc)."""
    chosen = Path(path) if path is not None else directory()
    if chosen is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, str(chosen))  # type: ignore[no-untyped-call]


def child_exit(_server: Any, worker: Any) -> None:
    """gunicorn's ``child_exit`` server hook: ``child_exit = telemetry.multiprocess.child_exit``."""
    mark_process_dead(worker.pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def sweep_dead_workers(path: str | os.PathLike[str] | None = None) -> list[int]:
    """Mark every pid that has live-gauge files but no process as dead; returns those pids.

    Workers share the host's process namespace with each other, so a pid with no process is a
    worker that died (a reused pid merely delays its clean-up until that process ends).
    """
    chosen = Path(path) if path is not None else directory()
    if chosen is None:
        return []
    pids = set()
    for entry in chosen.iterdir():
        found = _LIVE_FILE.fullmatch(entry.name)
        if found is not None:
            pids.add(int(found[1]))
    dead = sorted(pid for pid in pids if pid != os.getpid() and not _alive(pid))
    for pid in dead:
        mark_process_dead(pid, chosen)
    return dead


def cleanup_at_exit() -> None:
    """Mark this process dead when it exits normally (for uvicorn workers); idempotent."""
    pid = os.getpid()
    if pid in _registered_exit:
        return
    _registered_exit.add(pid)
    atexit.register(_exit_hook, pid)


def _exit_hook(pid: int) -> None:
    if os.getpid() == pid:
        process_exit()


# --- Scrape-time values under several workers ---------------------------------------------

PUBLISH_INTERVAL: Final = 1.0
"""Seconds between two writes of a worker's scrape-time values into the multiprocess files."""

WORKER_LABEL: Final = "worker"
"""The label naming the worker (its pid) on values of objects that live in one worker."""


class Publisher:
    """Writes the samples of scrape-time collectors into this worker's multiprocess files.

    A scrape under several workers reads only the files (no worker's collectors run), so
    values that exist only in a worker's memory must be written there. ``own`` collectors
    (breakers, pools: objects of this worker) get a ``worker="<pid>"`` label and go away with
    the worker's live files; ``shared`` collectors (outbox tables, DLQs: one thing for every
    worker) are read and written by one worker only, the holder of an exclusive ``flock`` on
    the directory, without a worker label. Counters are written as increments since the last
    publish, so they add up like every other counter.
    """

    def __init__(self, path: Path, interval: float = PUBLISH_INTERVAL) -> None:
        self.path = path
        self.interval = interval
        self.pid = os.getpid()
        self.own: list[Collector] = []
        self.shared: list[Collector] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._metrics: dict[tuple[str, str, tuple[str, ...], bool], Any] = {}
        self._counted: dict[tuple[str, tuple[str, ...], tuple[str, ...]], float] = {}
        self._leader_fd: int | None = None
        self._failed = False

    def add(self, collector: Collector, *, shared: bool) -> None:
        """Publish ``collector`` from now on (idempotent) and make sure the thread runs."""
        with self._lock:
            into = self.shared if shared else self.own
            if not any(existing is collector for existing in into):
                into.append(collector)
        self.start()
        self.poke()

    def remove(self, collector: Collector) -> None:
        """Stop publishing ``collector``; the values it wrote stay until the worker dies."""
        with self._lock:
            self.own = [c for c in self.own if c is not collector]
            self.shared = [c for c in self.shared if c is not collector]

    def start(self) -> None:
        if self._stopped.is_set() or (self._thread is not None and self._thread.is_alive()):
            return
        self._thread = threading.Thread(target=self._run, name="telemetry-multiprocess", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        """Publish now rather than at the next interval (a breaker just changed state)."""
        self._wake.set()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread and give up the reader role (the worker is exiting)."""
        self._stopped.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        with self._lock:
            if self._leader_fd is not None:
                os.close(self._leader_fd)  # releases the flock: another worker takes over
                self._leader_fd = None

    @property
    def reader(self) -> bool:
        """Whether this worker reads the shared sources (holds the directory's flock)."""
        return self._leader_fd is not None

    def _lead(self) -> bool:
        if self._leader_fd is not None:
            return True
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._leader_fd = fd
        return True

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.clear()
            try:
                self.publish()
            except Exception:
                # Once per worker, not once a second (this module sits below telemetry.containment).
                if not self._failed:
                    self._failed = True
                    logging.getLogger("telemetry.multiprocess").warning(
                        "publishing scrape-time values failed", exc_info=True
                    )
            self._wake.wait(self.interval)

    def publish(self) -> None:
        """Write every collector's current samples once (the thread calls it; so may tests)."""
        with self._lock:
            if self._stopped.is_set():
                return
            own, shared = list(self.own), list(self.shared)
            for collector in own:
                self._write(collector, str(self.pid))
            if shared and self._lead():
                for collector in shared:
                    self._write(collector, None)

    def _write(self, collector: Collector, worker: str | None) -> None:
        for family in collector.collect():
            counter = family.type == "counter"
            for sample in family.samples:
                if counter and not sample.name.endswith("_total"):
                    continue  # _created: the worker's own start time means nothing summed
                names, values = tuple(sample.labels), tuple(sample.labels.values())
                if worker is not None:
                    names, values = (*names, WORKER_LABEL), (*values, worker)
                metric = self._metric(family, names, shared=worker is None)
                child = metric.labels(*values) if names else metric
                if not counter:
                    child.set(sample.value)
                    continue
                key = (family.name, names, values)
                delta = sample.value - self._counted.get(key, 0.0)
                if delta > 0:
                    child.inc(delta)
                    self._counted[key] = sample.value

    def _metric(self, family: Any, names: tuple[str, ...], *, shared: bool) -> Any:
        key = (family.name, family.type, names, shared)
        found = self._metrics.get(key)
        if found is None:
            from prometheus_client import Counter, Gauge

            if family.type == "counter":
                found = Counter(family.name, family.documentation, names, registry=None)
            # One writer per series (a worker's own, or the reader's): the newest live value.
            elif shared:
                found = Gauge(
                    family.name, family.documentation, names, registry=None, multiprocess_mode="livemostrecent"
                )
            else:
                found = Gauge(family.name, family.documentation, names, registry=None, multiprocess_mode="livesum")
            self._metrics[key] = found
        return found


_publisher: Publisher | None = None
_publisher_lock = threading.Lock()


def publisher() -> Publisher | None:
    """This process's :class:`Publisher`; ``None`` when multiprocess mode is off.

    A forked child (gunicorn with ``preload_app``) gets a fresh one that keeps the parent's
    collectors, since the objects they read were copied into it too.
    """
    global _publisher  # noqa: PLW0603 - one per process
    path = directory()
    if path is None:
        return None
    found = _publisher
    if found is not None and found.pid == os.getpid():
        return found
    with _publisher_lock:
        if _publisher is None or _publisher.pid != os.getpid():
            inherited = _publisher
            _publisher = Publisher(path)
            if inherited is not None:
                if inherited._leader_fd is not None:
                    # The parent's lock, copied by fork: holding it here would keep the reader
                    # role locked after the parent is gone, so this copy is closed.
                    with contextlib.suppress(OSError):
                        os.close(inherited._leader_fd)
                _publisher.own, _publisher.shared = list(inherited.own), list(inherited.shared)
                if inherited.own or inherited.shared:
                    _publisher.start()
        return _publisher


def publish(collector: Collector, *, shared: bool) -> None:
    """Export ``collector`` through the files under several workers (no-op when the mode is off)."""
    found = publisher()
    if found is not None:
        found.add(collector, shared=shared)


def publish_soon() -> None:
    """Ask this worker's publisher to write now; cheap and safe when the mode is off."""
    found = _publisher
    if found is not None and found.pid == os.getpid():
        found.poke()


def process_exit() -> None:
    """This worker is shutting down: stop publishing and delete its live-gauge files.

    Called by the ASGI lifespan shutdown (:func:`telemetry.instrument_app` hooks it), because
    uvicorn re-raises SIGTERM after a graceful shutdown and ``atexit`` never runs there.
    """
    found = _publisher
    if found is not None and found.pid == os.getpid():
        found.stop()
    with contextlib.suppress(OSError):
        mark_process_dead(os.getpid())
