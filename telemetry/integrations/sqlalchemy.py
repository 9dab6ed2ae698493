"""SQLAlchemy connection pools: the OpenTelemetry ``db.client.connection.*`` metrics, verbatim.

Usage::

    engine = create_engine(url, pool_size=20, max_overflow=30, pool_timeout=30, pool_pre_ping=True)
    telemetry.instrument(app, engine=engine)   # or: instrument_engine(engine, pool_name="orders")

    async_engine = create_async_engine(url)    # AsyncEngine works the same way
    instrument_engine(async_engine)

SQLAlchemy fires no event while a checkout waits for a connection or when it times out, so
the engine's ``QueuePool`` (or ``AsyncAdaptedQueuePool``) becomes an instrumented subclass
(:data:`InstrumentedQueuePool`, :data:`InstrumentedAsyncAdaptedQueuePool`; pass one as
``poolclass=`` to avoid the in-place class change). It measures the wait
(``db.client.connection.wait_time``), counts waiting checkouts (``.pending_requests``) and
timeouts (``.timeouts`` plus a span event and one WARNING log with size, overflow, checked-out
count and wait), and records :class:`~telemetry.events.PoolExhausted` when a checkout must
wait. ``PoolEvents`` give the rest: ``.create_time``, ``.use_time``, invalidations (hard and
soft, by ``error.type``) and connections the garbage collector reclaimed (a leak).
``.count{state=idle|used}``, ``.max`` and ``.idle.max`` are read from ``pool.checkedin()``,
``pool.checkedout()``, ``pool.size()`` and the configured overflow when Prometheus scrapes, so
they always agree with the pool. Everything survives ``engine.dispose()``.

The pool name is ``pool_name``, else the engine's ``pool_logging_name``, else
``host:port/database`` from the URL: never the user, the password or the query string.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Final

from telemetry import catalog
from telemetry.events.pool import (
    PoolConnectionGarbageCollected,
    PoolConnectionInvalidated,
    PoolExhausted,
    PoolTimedOut,
)
from telemetry.metrics import current_exemplar, family
from telemetry.recorder import get_recorder, record

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import ConnectionPoolEntry, Pool, QueuePool

    from telemetry.metrics import Instruments
    from telemetry.recorder import Recorder

    # Built on first access by the module ``__getattr__`` below (no import-time SQLAlchemy).
    InstrumentedQueuePool: type[QueuePool]
    InstrumentedAsyncAdaptedQueuePool: type[QueuePool]

__all__ = [
    "InstrumentedAsyncAdaptedQueuePool",
    "InstrumentedQueuePool",
    "instrument_engine",
    "instrumented_pool_class",
    "pool_name_for",
    "uninstrument_engine",
]

_CHECKOUT: Final = "telemetry.checkout_at"
_CONNECT: Final = "telemetry.connect_at"
# Waits shorter than this carry no exemplar: looking the span up costs more than it tells.
_EXEMPLAR_MIN_S: Final = 0.001
_lock = threading.RLock()
_engines: weakref.WeakKeyDictionary[Engine, _PoolTelemetry] = weakref.WeakKeyDictionary()


def _sqlalchemy() -> Any:
    try:
        import sqlalchemy
    except ImportError as exc:
        msg = "pool telemetry needs SQLAlchemy: pip install 'resilience-telemetry[sqlalchemy]'"
        raise ImportError(msg) from exc
    return sqlalchemy


def pool_name_for(engine: Any) -> str:
    """The default pool name: ``pool_logging_name`` if set, else ``host:port/database``.

    User, password and query string are never part of it; SQLite gives its database path.
    """
    sync = getattr(engine, "sync_engine", engine)
    given = getattr(sync.pool, "_orig_logging_name", None)
    if given:
        return str(given)
    url = sync.url
    database = url.database or ""
    if not url.host:
        return database or ":memory:"
    address = f"{url.host}:{url.port}" if url.port else str(url.host)
    return f"{address}/{database}"


class _Bound:
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

    def observe(self, histogram: Any, seconds: float) -> None:
        exemplar = current_exemplar() if self.exemplars and seconds >= _EXEMPLAR_MIN_S else None
        histogram.observe(seconds, exemplar)


class _PoolTelemetry:
    """One instrumented engine: its name, its listeners, and what its pools record through."""

    __slots__ = ("__weakref__", "_bound", "engine", "listeners", "name", "original_class")

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = weakref.ref(engine)
        self.name = name
        self._bound: _Bound | None = None
        self.listeners: list[tuple[Any, str, Any]] = []
        self.original_class: type[Any] | None = None

    def bound(self) -> _Bound:
        """Children bound in the current recorder's registry (rebound when the recorder changes)."""
        recorder = get_recorder()
        found = self._bound
        if found is not None and found.recorder is recorder:
            return found
        with _lock:
            if found is not None:
                _collector_for(found.instruments).states.discard(self)
            found = self._bound = _Bound(recorder, self.name)
            _collector_for(found.instruments).states.add(self)
        return found

    def pool(self) -> Pool | None:
        engine = self.engine()
        return None if engine is None else engine.pool

    # --- PoolEvents / DialectEvents listeners: each swallows its own errors ---------------
    def on_do_connect(self, _dialect: Any, conn_rec: ConnectionPoolEntry, _cargs: Any, _cparams: Any) -> None:
        with contextlib.suppress(Exception):  # telemetry never breaks a connect
            conn_rec.info[_CONNECT] = time.perf_counter()

    def on_connect(self, _dbapi_connection: Any, conn_rec: ConnectionPoolEntry) -> None:
        try:
            started = conn_rec.info.pop(_CONNECT, None)
            if started is not None:
                bound = self.bound()
                bound.observe(bound.create, time.perf_counter() - started)
        except Exception:  # noqa: S110 - telemetry never breaks a connect
            pass

    def on_checkout(self, _dbapi_connection: Any, conn_rec: ConnectionPoolEntry, _proxy: Any) -> None:
        try:  # noqa: SIM105 - hot path: a try costs nothing, contextlib.suppress does
            conn_rec.info[_CHECKOUT] = time.perf_counter()
        except Exception:  # noqa: S110 - telemetry never breaks a checkout
            pass

    def on_reset(self, _dbapi_connection: Any, conn_rec: Any, _state: Any) -> None:
        # ``reset`` runs once per return, before the rollback: the end of the use time. (A
        # connection invalidated while in use is returned without a reset: no use time.)
        # The record still points at its fairy here; a dead fairy means the garbage
        # collector, not the application, is returning the connection: a leak.
        try:
            started = conn_rec.info.pop(_CHECKOUT, None)
            if started is not None:
                bound = self.bound()
                bound.observe(bound.use, time.perf_counter() - started)
            if conn_rec.needs_gc:
                record(PoolConnectionGarbageCollected(pool_name=self.name))
        except Exception:  # noqa: S110 - telemetry never breaks a checkin
            pass

    def on_invalidate(self, _dbapi_connection: Any, _conn_rec: Any, exception: BaseException | None) -> None:
        record(PoolConnectionInvalidated(pool_name=self.name, soft=False, caused_by=exception))

    def on_soft_invalidate(self, _dbapi_connection: Any, _conn_rec: Any, exception: BaseException | None) -> None:
        record(PoolConnectionInvalidated(pool_name=self.name, soft=True, caused_by=exception))

    def events(self, *, timed_pool: bool) -> list[tuple[str, Any]]:
        """The listeners to register; an instrumented pool marks checkouts itself."""
        listeners = [
            ("do_connect", self.on_do_connect),
            ("connect", self.on_connect),
            ("reset", self.on_reset),
            ("invalidate", self.on_invalidate),
            ("soft_invalidate", self.on_soft_invalidate),
        ]
        return listeners if timed_pool else [*listeners, ("checkout", self.on_checkout)]


def _timed_get(pool: Any, get: Callable[[], ConnectionPoolEntry]) -> ConnectionPoolEntry:
    """The instrumented ``QueuePool._do_get``: wait time, pending requests, exhaustion, timeout.

    ``_do_get`` is where a checkout takes a connection from the queue, opens a new one within
    the overflow, or waits; pre-ping and checkout handlers run after it and do not count as
    waiting. (When ``QueuePool._do_get`` loses a race it calls ``self._do_get`` again, which
    records that checkout's wait twice; SQLAlchemy's own retry, and rare.)
    """
    state: _PoolTelemetry | None = pool._telemetry
    if state is None:
        return get()
    try:
        bound = state.bound()
        # The test QueuePool._do_get makes before it blocks on the queue (cheapest part first).
        waits = pool._overflow >= pool._max_overflow > -1 and pool._pool.qsize() == 0
        if waits:
            bound.pending.inc()
            record(
                PoolExhausted(
                    pool_name=state.name,
                    pool_size=pool.size(),
                    max_overflow=pool._max_overflow,
                    checked_out=pool.checkedout(),
                )
            )
    except Exception:
        return get()
    started = time.perf_counter()
    try:
        entry = get()
    except _sqlalchemy().exc.TimeoutError:
        _timed_out(pool, state, time.perf_counter() - started)
        raise
    finally:
        if waits:
            bound.pending.dec()
    try:
        now = time.perf_counter()
        bound.observe(bound.wait, now - started)
        # The start of the use time, here rather than in a ``checkout`` listener: an event
        # dispatch costs about a microsecond, this costs nothing. (A reconnect clears ``info``;
        # that one checkout then has no use time.)
        entry.info[_CHECKOUT] = now
    except Exception:  # noqa: S110 - the connection is the caller's either way
        pass
    return entry


def _timed_out(pool: Any, state: _PoolTelemetry, waited: float) -> None:
    try:
        event = PoolTimedOut(
            pool_name=state.name,
            pool_size=pool.size(),
            max_overflow=pool._max_overflow,
            overflow=pool.overflow(),
            checked_out=pool.checkedout(),
            waited=waited,
            timeout=pool.timeout(),
        )
    except Exception:
        return
    record(event)


_pool_classes: dict[type[Any], type[Any]] = {}


def _is_instrumented(cls: type[Any]) -> bool:
    return bool(getattr(cls, "_telemetry_pool_class", False))


def instrumented_pool_class(base: type[QueuePool]) -> type[QueuePool]:
    """The instrumented subclass of ``base`` (a ``QueuePool`` class), made once per base.

    It adds no instance layout, so :func:`instrument_engine` can switch an existing pool to
    it; its state travels through ``recreate()``, so ``engine.dispose()`` keeps it.
    """
    if _is_instrumented(base):
        return base
    with _lock:
        found = _pool_classes.get(base)
        if found is None:

            class Instrumented(base):  # type: ignore[valid-type,misc]  # a base chosen at run time
                __slots__ = ()
                _telemetry_pool_class = True
                _telemetry: _PoolTelemetry | None = None

                def _do_get(self) -> ConnectionPoolEntry:
                    return _timed_get(self, super()._do_get)

                def recreate(self) -> QueuePool:
                    fresh = super().recreate()
                    fresh._telemetry = self._telemetry
                    return fresh  # type: ignore[no-any-return]

            Instrumented.__name__ = Instrumented.__qualname__ = f"Instrumented{base.__name__}"
            found = _pool_classes[base] = Instrumented
        return found


def __getattr__(name: str) -> Any:
    # The ready-made classes for ``poolclass=``, built on first access: no import-time SQLAlchemy.
    if name in ("InstrumentedQueuePool", "InstrumentedAsyncAdaptedQueuePool"):
        from sqlalchemy import pool

        return instrumented_pool_class(getattr(pool, name.removeprefix("Instrumented")))
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


class _PoolCollector:
    """Scrape-time pool gauges for every engine bound to one registry."""

    def __init__(self) -> None:
        self.states: weakref.WeakSet[_PoolTelemetry] = weakref.WeakSet()

    def describe(self) -> list[Any]:
        return self._families()

    def _families(self) -> list[Any]:
        return [
            family(catalog.DB_CLIENT_CONNECTION_COUNT),
            family(catalog.DB_CLIENT_CONNECTION_MAX),
            family(catalog.DB_CLIENT_CONNECTION_IDLE_MAX),
        ]

    def collect(self) -> Iterator[Any]:
        # Engines given the same name are one logical pool: their readings add up.
        totals: dict[str, list[int]] = {}
        for state in list(self.states):
            pool: Any = state.pool()
            bound = state._bound
            if pool is None or bound is None or not hasattr(pool, "checkedout"):
                continue
            name = bound.instruments.admit(catalog.POOL_NAME, state.name)
            size, overflow = pool.size(), pool._max_overflow
            total = totals.setdefault(name, [0, 0, 0, 0])
            total[0] += pool.checkedin()
            total[1] += pool.checkedout()
            total[2] += size
            # max_overflow=-1 (or pool_size=0) sets no limit: then there is no max to report.
            total[3] = -1 if overflow < 0 or size == 0 or total[3] < 0 else total[3] + size + overflow
        count, maximum, idle_max = self._families()
        for name, (idle, used, size, most) in totals.items():
            count.add_metric([name, "idle"], idle)
            count.add_metric([name, "used"], used)
            idle_max.add_metric([name], size)
            if most >= 0:
                maximum.add_metric([name], most)
        yield count
        yield maximum
        yield idle_max


_collectors: weakref.WeakKeyDictionary[Instruments, _PoolCollector] = weakref.WeakKeyDictionary()


def _collector_for(instruments: Instruments) -> _PoolCollector:
    found = _collectors.get(instruments)
    if found is None:
        found = _collectors[instruments] = _PoolCollector()
        instruments.register(found)
    return found


def instrument_engine(engine: Any, *, pool_name: str | None = None) -> None:
    """Instrument ``engine`` (an ``Engine`` or ``AsyncEngine``); a second call does nothing.

    Args:
        engine: the engine; an ``AsyncEngine`` is instrumented through its ``sync_engine``.
        pool_name: the ``db.client.connection.pool.name`` label; defaults to
            :func:`pool_name_for` (no credentials).
    """
    event = _sqlalchemy().event
    sync: Engine = getattr(engine, "sync_engine", engine)
    with _lock:
        if sync in _engines:
            return
        state = _PoolTelemetry(sync, pool_name or pool_name_for(sync))
        pool: Any = sync.pool
        timed_pool = isinstance(pool, _sqlalchemy().pool.QueuePool)
        if timed_pool:
            if not _is_instrumented(type(pool)):
                state.original_class = type(pool)
                pool.__class__ = instrumented_pool_class(type(pool))
            pool._telemetry = state
        for identifier, listener in state.events(timed_pool=timed_pool):
            event.listen(sync, identifier, listener)
            state.listeners.append((sync, identifier, listener))
        _engines[sync] = state
        state.bound()


def uninstrument_engine(engine: Any) -> None:
    """Undo :func:`instrument_engine`: listeners removed, the pool's class restored."""
    event = _sqlalchemy().event
    sync: Engine = getattr(engine, "sync_engine", engine)
    with _lock:
        state = _engines.pop(sync, None)
        if state is None:
            return
        for target, identifier, listener in state.listeners:
            event.remove(target, identifier, listener)
        pool: Any = sync.pool
        if _is_instrumented(type(pool)):
            pool._telemetry = None
            if state.original_class is not None:
                pool.__class__ = state.original_class
        bound = state._bound
        if bound is not None:
            _collector_for(bound.instruments).states.discard(state)
