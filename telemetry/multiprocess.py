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
died or were restarted, and each worker calls :func:`mark_process_dead` on its own pid at
normal exit once :func:`cleanup_at_exit` ran (``setup()`` does not call it for you).

What adds up how (prometheus-client's rules, which this package follows):

* counters and histograms: summed over every worker that ever lived since :func:`prepare`, so
  a restarted worker's counts are not lost and ``rate()`` stays right;
* up-down counters (``db.client.connection.pending_requests``): ``livesum``, the sum over
  live workers;
* gauges: ``livemax``, the maximum over live workers (``resilience.degraded`` is 1 while any
  live worker is degraded); gauges holding a timestamp (the outbox relay heartbeat) use
  ``max`` over all workers, so a dead relay's heartbeat goes stale instead of vanishing;
* scrape-time collectors (breaker state, pool sizes, outbox backlog, DLQ depth) are not
  aggregated: prometheus-client's multiprocess mode has no files for them. Prefer OTLP push
  (one series per process, ``service.instance.id``) when those matter under several workers.
* exemplars are not available in multiprocess mode.

What is cleaned and what is not: :func:`mark_process_dead` (gunicorn's ``child_exit``, the
scrape-time sweep, or normal exit) deletes the dead pid's ``gauge_live*_<pid>.db`` files.
Counter, histogram and ``max`` gauge files of dead workers stay, by design, until the next
:func:`prepare` (the next start of the server); one such set exists per worker pid that ever
ran, so their number grows with worker restarts (``max_requests`` recycling), not with
traffic, and a restart of the server brings it back to zero.
"""

from __future__ import annotations

import atexit
import os
import re
from pathlib import Path
from typing import Any, Final

__all__ = [
    "child_exit",
    "cleanup_at_exit",
    "directory",
    "mark_process_dead",
    "prepare",
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
        mark_process_dead(pid)
