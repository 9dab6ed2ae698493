"""The instrumented QueuePool classes: wait time, pending requests, exhaustion, timeouts, use time."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

from telemetry.events.pool import PoolExhausted, PoolTimedOut
from telemetry.integrations.contract import enabled
from telemetry.integrations.sqlalchemy._state import PoolTelemetry, lock, mark_checkout, mark_return, sqlalchemy_module
from telemetry.labels import error_type
from telemetry.recorder import record

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection, QueuePool

__all__ = ["instrumented_pool_class", "is_instrumented_pool_class"]


def timed_get(pool: Any, get: Callable[[], ConnectionPoolEntry]) -> ConnectionPoolEntry:
    """The instrumented ``QueuePool._do_get``: wait time, pending requests, exhaustion, timeout.

    ``_do_get`` is where a checkout takes a connection from the queue, opens a new one within
    the overflow, or waits; pre-ping and checkout handlers run after it and do not count as
    waiting. (When ``QueuePool._do_get`` loses a race it calls ``self._do_get`` again, which
    records that checkout's wait twice; SQLAlchemy's own retry, and rare.)
    """
    state: PoolTelemetry | None = pool._telemetry
    if state is None or not enabled():
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
    if waits and state.tracer is not None:
        return _waited_get(pool, state, bound, get)
    started = time.perf_counter()
    try:
        entry = get()
    except sqlalchemy_module().exc.TimeoutError:
        timed_out(pool, state, time.perf_counter() - started)
        raise
    finally:
        if waits:
            bound.pending.dec()
    try:  # noqa: SIM105 - hot path: a try is free, contextlib.suppress is not
        bound.observe(bound.wait, time.perf_counter() - started)
    except Exception:  # noqa: S110 - the connection is the caller's either way
        pass
    return entry


def _waited_get(
    pool: Any, state: PoolTelemetry, bound: Any, get: Callable[[], ConnectionPoolEntry]
) -> ConnectionPoolEntry:
    """A checkout that has to wait, inside a ``pool checkout`` span of its own.

    Only checkouts that find the pool exhausted get one (the fast path stays span-free): in a
    trace, the time a request spent queueing for a connection, and the place it failed when
    the wait ended in ``TimeoutError``, are then a span, not only an event on the server span.
    The timeout's span event and log line are recorded inside it.
    """
    from opentelemetry import trace

    span = state.tracer.start_span(
        "pool checkout",
        kind=trace.SpanKind.INTERNAL,
        attributes={"db.client.connection.pool.name": state.name, "db.pool.checked_out": pool.checkedout()},
    )
    # A span that does not record (no SDK provider) must not hide the request's span from the events.
    current = (
        trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False)
        if span.is_recording()
        else contextlib.nullcontext()
    )
    started = time.perf_counter()
    try:
        with current:
            try:
                entry = get()
            except sqlalchemy_module().exc.TimeoutError as exc:
                timed_out(pool, state, time.perf_counter() - started)
                span.set_attribute("error.type", error_type(exc))
                span.set_status(trace.Status(trace.StatusCode.ERROR, error_type(exc)))
                raise
    finally:
        bound.pending.dec()
        span.end()
    try:  # noqa: SIM105 - the connection is the caller's either way
        bound.observe(bound.wait, time.perf_counter() - started)
    except Exception:  # noqa: S110
        pass
    return entry


def timed_out(pool: Any, state: PoolTelemetry, waited: float) -> None:
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


def is_instrumented_pool_class(cls: type[Any]) -> bool:
    """Whether ``cls`` is one of the instrumented pool classes."""
    return bool(getattr(cls, "_telemetry_pool_class", False))


def instrumented_pool_class(base: type[QueuePool]) -> type[QueuePool]:
    """The instrumented subclass of ``base`` (a ``QueuePool`` class), made once per base.

    It adds no instance layout, so :func:`instrument_engine` can switch an existing pool to
    it; its state travels through ``recreate()``, so ``engine.dispose()`` keeps it.
    """
    if is_instrumented_pool_class(base):
        return base
    with lock:
        found = _pool_classes.get(base)
        if found is None:

            class Instrumented(base):  # type: ignore[valid-type,misc]  # a base chosen at run time
                __slots__ = ()
                _telemetry_pool_class = True
                _telemetry: PoolTelemetry | None = None

                def connect(self) -> PoolProxiedConnection:
                    fairy = super().connect()
                    if self._telemetry is not None:
                        mark_checkout(fairy)
                    return fairy  # type: ignore[no-any-return]

                def _do_get(self) -> ConnectionPoolEntry:
                    return timed_get(self, super()._do_get)

                def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
                    state = self._telemetry
                    if state is not None:
                        mark_return(state, record)
                    super()._do_return_conn(record)

                def recreate(self) -> QueuePool:
                    fresh = super().recreate()
                    fresh._telemetry = self._telemetry
                    return fresh  # type: ignore[no-any-return]

            Instrumented.__name__ = Instrumented.__qualname__ = f"Instrumented{base.__name__}"
            found = _pool_classes[base] = Instrumented
        return found
