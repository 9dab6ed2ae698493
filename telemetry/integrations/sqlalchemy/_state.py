"""The state one instrumented engine records through, and its SQLAlchemy event listeners."""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Final

from telemetry import catalog
from telemetry.events.pool import PoolConnectionGarbageCollected, PoolConnectionInvalidated
from telemetry.integrations.contract import enabled, require
from telemetry.integrations.sqlalchemy._collector import PoolReading, collector_for
from telemetry.metrics import current_exemplar, observe_child
from telemetry.recorder import get_recorder, record

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import ConnectionPoolEntry, Pool

    from telemetry.recorder import Recorder

__all__ = ["Bound", "PoolTelemetry", "lock", "mark_checkout", "mark_return", "sqlalchemy_module"]

_CHECKOUT: Final = "telemetry.checkout_at"
_CONNECT: Final = "telemetry.connect_at"
# Waits shorter than this carry no exemplar: looking the span up costs more than it tells.
_EXEMPLAR_MIN_S: Final = 0.001
lock = threading.RLock()


def sqlalchemy_module() -> Any:
    """``sqlalchemy``, or the install hint."""
    return require("sqlalchemy", "sqlalchemy", what="pool telemetry")


class Bound:
    """The pool's hot-path children in one :class:`Instruments` (the recorder's at the time)."""

    __slots__ = ("create", "exemplars", "instruments", "pending", "recorder", "use", "wait")

    def __init__(self, recorder: Recorder, name: str) -> None:
        m = recorder.instruments
        admitted = m.admit(catalog.POOL_NAME, name)
        self.recorder = recorder
        self.instruments = m
        self.exemplars = m.exemplars
        self.wait = m.child(catalog.DB_CLIENT_CONNECTION_WAIT_TIME, admitted)
        self.use = m.child(catalog.DB_CLIENT_CONNECTION_USE_TIME, admitted)
        self.create = m.child(catalog.DB_CLIENT_CONNECTION_CREATE_TIME, admitted)
        self.pending = m.child(catalog.DB_CLIENT_CONNECTION_PENDING_REQUESTS, admitted)
        # Event counters exist at 0 from the start, so rate() and the panels see "none yet".
        m.child(catalog.DB_CLIENT_CONNECTION_TIMEOUTS, admitted)
        m.child(catalog.POOL_EXHAUSTED, admitted)
        m.child(catalog.POOL_GC_RETURNED, admitted)

    def observe(self, histogram: Any, seconds: float) -> None:
        exemplar = current_exemplar() if self.exemplars and seconds >= _EXEMPLAR_MIN_S else None
        observe_child(histogram, seconds, exemplar)


class PoolTelemetry:
    """One instrumented engine: its name, its listeners, and what its pools record through."""

    __slots__ = ("__weakref__", "_bound", "engine", "listeners", "name", "original_class", "tracer", "undo_spans")

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = weakref.ref(engine)
        self.name = name
        self._bound: Bound | None = None
        self.listeners: list[tuple[Any, str, Any]] = []
        self.original_class: type[Any] | None = None
        #: makes the span of a checkout that has to wait; ``None`` when client spans are off
        self.tracer: Any = None
        #: removes the query spans (``None`` when client spans are off)
        self.undo_spans: Callable[[], None] | None = None

    def bound(self) -> Bound:
        """Children bound in the current recorder's registry (rebound when the recorder changes)."""
        recorder = get_recorder()
        found = self._bound
        if found is not None and found.recorder is recorder:
            return found
        with lock:
            if found is not None:
                collector_for(found.instruments).states.discard(self)
            found = self._bound = Bound(recorder, self.name)
            collector_for(found.instruments).states.add(self)
        return found

    def pool(self) -> Pool | None:
        engine = self.engine()
        return None if engine is None else engine.pool

    def reading(self) -> PoolReading | None:
        """The pool's numbers for the scrape-time gauges (``None`` if not a QueuePool or unbound)."""
        pool: Any = self.pool()
        bound = self._bound
        if pool is None or bound is None or not hasattr(pool, "checkedout"):
            return None
        return PoolReading(
            bound.instruments.admit(catalog.POOL_NAME, self.name),
            pool.checkedin(),
            pool.checkedout(),
            pool.size(),
            pool._max_overflow,  # QueuePool keeps it private; read here only
        )

    def unbind(self) -> None:
        """Leave the scrape-time gauges of the registry this state is bound to."""
        found = self._bound
        if found is not None:
            collector_for(found.instruments).states.discard(self)

    # --- PoolEvents / DialectEvents listeners: each swallows its own errors ---------------
    def on_do_connect(self, _dialect: Any, conn_rec: ConnectionPoolEntry, _cargs: Any, _cparams: Any) -> None:
        with contextlib.suppress(Exception):  # telemetry never breaks a connect
            conn_rec.info[_CONNECT] = time.perf_counter()

    def on_connect(self, _dbapi_connection: Any, conn_rec: ConnectionPoolEntry) -> None:
        try:
            started = conn_rec.info.pop(_CONNECT, None)
            if started is not None and enabled():
                bound = self.bound()
                bound.observe(bound.create, time.perf_counter() - started)
        except Exception:  # noqa: S110 - telemetry never breaks a connect
            pass

    # Pools other than QueuePool cannot wait; they are timed through these two listeners.
    def on_checkout(self, _dbapi_connection: Any, _conn_rec: Any, proxy: Any) -> None:
        mark_checkout(proxy)

    def on_reset(self, _dbapi_connection: Any, conn_rec: Any, _state: Any) -> None:
        # ``reset`` also runs for connections the garbage collector hands back on asyncio
        # dialects (which ``checkin`` misses); it is skipped for a connection invalidated in use.
        mark_return(self, conn_rec)

    def on_invalidate(self, _dbapi_connection: Any, _conn_rec: Any, exception: BaseException | None) -> None:
        if enabled():
            record(PoolConnectionInvalidated(pool_name=self.name, soft=False, caused_by=exception))

    def on_soft_invalidate(self, _dbapi_connection: Any, _conn_rec: Any, exception: BaseException | None) -> None:
        if enabled():
            record(PoolConnectionInvalidated(pool_name=self.name, soft=True, caused_by=exception))

    def events(self, *, timed_pool: bool) -> list[tuple[str, Any]]:
        """The listeners to register; an instrumented pool times checkouts and returns itself."""
        listeners = [
            ("do_connect", self.on_do_connect),
            ("connect", self.on_connect),
            ("invalidate", self.on_invalidate),
            ("soft_invalidate", self.on_soft_invalidate),
        ]
        return listeners if timed_pool else [*listeners, ("checkout", self.on_checkout), ("reset", self.on_reset)]


def mark_checkout(fairy: Any) -> None:
    """Note when the connection was borrowed, and a weak reference to whoever borrowed it.

    Done in the pool rather than in ``checkout``/``reset`` listeners: one SQLAlchemy event
    dispatch (with its ``PoolResetState``) costs more than everything here.
    """
    try:  # noqa: SIM105 - hot path: a try is free, contextlib.suppress is not
        fairy._connection_record.info[_CHECKOUT] = (time.perf_counter(), weakref.ref(fairy))
    except Exception:  # noqa: S110 - telemetry never breaks a checkout
        pass


def mark_return(state: PoolTelemetry, entry: Any) -> None:
    """The use time ends; a borrower already gone means the garbage collector returned it (a leak)."""
    try:
        marked = entry.info.pop(_CHECKOUT, None)
        if marked is None or not enabled():
            return
        started, borrower = marked
        bound = state.bound()
        bound.observe(bound.use, time.perf_counter() - started)
        if borrower() is None:
            record(PoolConnectionGarbageCollected(pool_name=state.name))
    except Exception:  # noqa: S110 - telemetry never breaks a checkin
        pass
