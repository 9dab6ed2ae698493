"""SQLAlchemy connection pools: the OpenTelemetry ``db.client.connection.*`` metrics, verbatim.

Usage::

    engine = create_engine(url, pool_size=20, max_overflow=30, pool_timeout=30, pool_pre_ping=True)
    telemetry.instrument(app, engine=engine)   # or: instrument_engine(engine, pool_name="orders")
    instrument_engine(engine, client_spans=False)   # pool metrics only, no query spans

    async_engine = create_async_engine(url)    # AsyncEngine works the same way
    instrument_engine(async_engine)

SQLAlchemy fires no event while a checkout waits for a connection or when it times out, so
the engine's ``QueuePool`` (or ``AsyncAdaptedQueuePool``) becomes an instrumented subclass
(:data:`InstrumentedQueuePool`, :data:`InstrumentedAsyncAdaptedQueuePool`; pass one as
``poolclass=`` to avoid the in-place class change). It measures the wait
(``db.client.connection.wait_time``), counts waiting checkouts (``.pending_requests``) and
timeouts (``.timeouts`` plus a span event and one WARNING log with size, overflow, checked-out
count and wait), and records :class:`~telemetry.events.PoolExhausted` when a checkout must
wait. The same class times ``.use_time`` and notices connections the garbage collector hands
back because the application never closed them (a leak): one SQLAlchemy event dispatch per
checkout costs more than all of that. ``PoolEvents`` give the rest: ``.create_time`` and
invalidations (hard and soft, by ``error.type``); pools other than QueuePool (``NullPool``...)
get their use time and leaks from ``checkout``/``reset`` listeners.
``.count{state=idle|used}``, ``.max`` and ``.idle.max`` are read from ``pool.checkedin()``,
``pool.checkedout()``, ``pool.size()`` and the configured overflow when Prometheus scrapes, so
they always agree with the pool. Everything survives ``engine.dispose()``.

Query spans: one CLIENT span per statement (opentelemetry-instrumentation-sqlalchemy's, on
this engine only, on every SQLAlchemy this package supports, 2.1 included; see
:mod:`telemetry.integrations.sqlalchemy._spans`), failures with ``error.type`` and never the
message; and a ``pool checkout`` span around each checkout that has to wait, ending in
``error.type=TimeoutError`` when the wait runs out. ``client_spans=False`` turns both off.

The pool name is ``pool_name``, else the engine's ``pool_logging_name``, else
``host:port/database`` from the URL: never the user, the password or the query string.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from telemetry.integrations.contract import check_telemetry, tracer_provider_for
from telemetry.integrations.sqlalchemy._pool import instrumented_pool_class, is_instrumented_pool_class
from telemetry.integrations.sqlalchemy._state import PoolTelemetry, lock, sqlalchemy_module

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import QueuePool

    # Built on first access by the module ``__getattr__`` below (no import-time SQLAlchemy).
    InstrumentedQueuePool: type[QueuePool]
    InstrumentedAsyncAdaptedQueuePool: type[QueuePool]

__all__ = [
    "InstrumentedAsyncAdaptedQueuePool",
    "InstrumentedQueuePool",
    "instrument_engine",
    "instrumented_pool_class",
    "is_instrumented",
    "pool_name_for",
    "uninstrument_engine",
]

_engines: weakref.WeakKeyDictionary[Engine, PoolTelemetry] = weakref.WeakKeyDictionary()


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


def __getattr__(name: str) -> Any:
    # The ready-made classes for ``poolclass=``, built on first access: no import-time SQLAlchemy.
    if name in ("InstrumentedQueuePool", "InstrumentedAsyncAdaptedQueuePool"):
        from sqlalchemy import pool

        return instrumented_pool_class(getattr(pool, name.removeprefix("Instrumented")))
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def is_instrumented(engine: Any) -> bool:
    """Whether :func:`instrument_engine` instrumented ``engine`` (and it was not undone since)."""
    return getattr(engine, "sync_engine", engine) in _engines


def instrument_engine(
    engine: Any,
    *,
    pool_name: str | None = None,
    telemetry: object = None,
    client_spans: bool = True,
    tracer_provider: Any = None,
) -> Any:
    """Instrument ``engine`` (an ``Engine`` or ``AsyncEngine``) and return it; a second call does nothing.

    Nothing is recorded inside OpenTelemetry's ``suppress_instrumentation()``.

    Args:
        engine: the engine; an ``AsyncEngine`` is instrumented through its ``sync_engine``.
        pool_name: the ``db.client.connection.pool.name`` label; defaults to
            :func:`pool_name_for` (no credentials).
        telemetry: the current set-up, or ``None`` (see
            :func:`telemetry.integrations.contract.check_telemetry`).
        client_spans: also make a CLIENT span per statement (through
            opentelemetry-instrumentation-sqlalchemy, on every SQLAlchemy this package supports)
            and a ``pool checkout`` span for each checkout that has to wait; ``False`` keeps the
            pool metrics only (say so when you trace the engine with ``SQLAlchemyInstrumentor``
            yourself; an engine it already traces is not traced twice either way).
        tracer_provider: where the spans go; defaults to the set-up's, else the global one.
    """
    event = sqlalchemy_module().event
    check_telemetry(telemetry)
    sync: Engine = getattr(engine, "sync_engine", engine)
    with lock:
        if sync in _engines:
            return engine
        state = PoolTelemetry(sync, pool_name or pool_name_for(sync))
        if client_spans:
            _add_spans(state, sync, tracer_provider_for(tracer_provider, telemetry))
        pool: Any = sync.pool
        timed_pool = isinstance(pool, sqlalchemy_module().pool.QueuePool)
        if timed_pool:
            if not is_instrumented_pool_class(type(pool)):
                state.original_class = type(pool)
                pool.__class__ = instrumented_pool_class(type(pool))
            pool._telemetry = state
        for identifier, listener in state.events(timed_pool=timed_pool):
            event.listen(sync, identifier, listener)
            state.listeners.append((sync, identifier, listener))
        _engines[sync] = state
        state.bound()
    return engine


def _add_spans(state: PoolTelemetry, sync: Engine, provider: Any) -> None:
    from opentelemetry import trace

    from telemetry.integrations.sqlalchemy._spans import add_query_spans, has_query_spans

    state.tracer = trace.get_tracer("telemetry.integrations.sqlalchemy", None, provider)  # our pool-checkout spans
    if not has_query_spans(sync):
        state.undo_spans = add_query_spans(sync, provider)


def uninstrument_engine(engine: Any) -> Any:
    """Undo :func:`instrument_engine` and return ``engine`` (idempotent): listeners removed,
    the pool's class restored."""
    event = sqlalchemy_module().event
    sync: Engine = getattr(engine, "sync_engine", engine)
    with lock:
        state = _engines.pop(sync, None)
        if state is None:
            return engine
        for target, identifier, listener in state.listeners:
            event.remove(target, identifier, listener)
        if state.undo_spans is not None:
            state.undo_spans()
        pool: Any = sync.pool
        if is_instrumented_pool_class(type(pool)):
            pool._telemetry = None
            if state.original_class is not None:
                pool.__class__ = state.original_class
        state.unbind()
    return engine
