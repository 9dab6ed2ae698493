"""Connection-pool telemetry on SQLite: the unit-level behaviour, runnable without PostgreSQL."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

import telemetry
from telemetry.integrations.sqlalchemy import instrument_engine, pool_name_for, uninstrument_engine
from telemetry.testing import capture
from tests.integrations.pool_support import POOL, count, pool_view

sqlalchemy = pytest.importorskip("sqlalchemy")
from sqlalchemy import text  # noqa: E402
from sqlalchemy.exc import TimeoutError as PoolTimeout  # noqa: E402

NAME = "orders-db"


def histogram_count(cap: Any, metric: str, name: str = NAME) -> float | None:
    return count(cap, f"db_client_connection_{metric}_seconds_count", name)


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.002)


def test_checkouts_record_wait_use_and_create_times(sqlite_engine: Any) -> None:
    """Each checkout observes one wait time and one use time; only new connections observe a create time."""
    with capture() as cap:
        engine = sqlite_engine(pool_size=2, max_overflow=0)
        instrument_engine(engine, pool_name=NAME)
        for _ in range(3):
            with engine.connect() as conn:
                assert conn.execute(text("SELECT 1")).scalar() == 1
        assert {
            "wait": histogram_count(cap, "wait_time"),
            "use": histogram_count(cap, "use_time"),
            "create": histogram_count(cap, "create_time"),
        } == {"wait": 3.0, "use": 3.0, "create": 1.0}
        assert cap.series("db_client_connection_wait_time_seconds_count") == [{POOL: NAME}]
        assert count(cap, "db_client_connection_pending_requests", NAME) == 0.0


def test_scrape_agrees_with_the_pools_own_view(sqlite_engine: Any) -> None:
    """count{idle,used}, max and idle.max equal checkedin(), checkedout(), size()+overflow and size() at every scrape."""
    with capture() as cap:
        engine = sqlite_engine(pool_size=2, max_overflow=1)
        instrument_engine(engine, pool_name=NAME)
        pool = engine.pool
        assert pool_view(cap, NAME) == {"idle": 0.0, "used": 0.0, "max": 3.0, "idle_max": 2.0}
        held = [engine.connect() for _ in range(3)]
        assert pool_view(cap, NAME) == {"idle": 0.0, "used": 3.0, "max": 3.0, "idle_max": 2.0}
        assert pool.checkedout() == 3
        held.pop().close()
        assert pool_view(cap, NAME) == {"idle": 1.0, "used": 2.0, "max": 3.0, "idle_max": 2.0}
        for conn in held:
            conn.close()  # the queue holds two: the third connection is closed, not kept
            assert pool_view(cap, NAME) == {
                "idle": float(pool.checkedin()),
                "used": float(pool.checkedout()),
                "max": float(pool.size() + 1),
                "idle_max": float(pool.size()),
            }
        assert pool_view(cap, NAME) == {"idle": 2.0, "used": 0.0, "max": 3.0, "idle_max": 2.0}


def test_timeout_counts_and_warns_with_pool_state(sqlite_engine: Any) -> None:
    """A pool timeout raises SQLAlchemy's TimeoutError as before, counts one timeout and one exhaustion,
    adds span events and logs one WARNING with size, overflow, checked-out count and wait."""
    with capture() as cap:
        engine = sqlite_engine(pool_size=1, max_overflow=0, pool_timeout=0.05)
        # Without the pool-checkout span, both events land on the request's span (with it, the timeout
        # event goes on that span: tests/integrations/test_client_spans.py).
        instrument_engine(engine, pool_name=NAME, client_spans=False)
        with engine.connect(), cap.tracer.start_as_current_span("request"):
            with pytest.raises(PoolTimeout, match="QueuePool limit of size 1 overflow 0 reached"):
                engine.connect()
        assert count(cap, "db_client_connection_timeouts_total", NAME) == 1.0
        assert count(cap, "resilience_db_pool_exhausted_total", NAME) == 1.0
        assert count(cap, "db_client_connection_pending_requests", NAME) == 0.0
        assert histogram_count(cap, "wait_time") == 1.0  # the timed-out checkout obtained nothing
        timed_out = [line for line in cap.logs if line["event"] == "telemetry.pool.timed_out"]
        assert len(timed_out) == 1
        waited = timed_out[0].pop("resilience.pool.waited_s")
        assert 0.05 <= waited < 1.0
        assert timed_out == [
            {
                "event": "telemetry.pool.timed_out",
                "log_level": "warning",
                "db.client.connection.pool.name": NAME,
                "resilience.pool.size": 1,
                "resilience.pool.max_overflow": 0,
                "resilience.pool.overflow": 0,
                "resilience.pool.checked_out": 1,
                "resilience.pool.timeout_s": 0.05,
                "error.type": "TimeoutError",
            }
        ]
        [span] = cap.spans()
        assert [event.name for event in span.events] == ["telemetry.pool.exhausted", "telemetry.pool.timed_out"]
        assert dict(span.events[0].attributes or {}) == {
            "db.client.connection.pool.name": NAME,
            "resilience.pool.size": 1,
            "resilience.pool.max_overflow": 0,
            "resilience.pool.checked_out": 1,
        }
        assert span.events[1].attributes["resilience.pool.checked_out"] == 1  # type: ignore[index]


def test_pending_requests_rise_while_threads_wait_and_fall_back(sqlite_engine: Any) -> None:
    """Two threads waiting on a full pool show as pending_requests 2; it returns to 0 once they are served."""
    with capture() as cap:
        engine = sqlite_engine(pool_size=1, max_overflow=0, pool_timeout=5)
        instrument_engine(engine, pool_name=NAME)
        holder = engine.connect()
        served: list[int] = []

        def waiter() -> None:
            with engine.connect() as conn:
                served.append(conn.execute(text("SELECT 1")).scalar())

        threads = [threading.Thread(target=waiter) for _ in range(2)]
        for thread in threads:
            thread.start()
        wait_until(lambda: count(cap, "db_client_connection_pending_requests", NAME) == 2.0)
        holder.close()
        for thread in threads:
            thread.join(5)
        assert served == [1, 1]
        assert count(cap, "db_client_connection_pending_requests", NAME) == 0.0
        assert count(cap, "resilience_db_pool_exhausted_total", NAME) == 2.0
        assert (
            count(cap, "db_client_connection_timeouts_total", NAME) == 0.0
        )  # exists from instrumentation, never moved
        assert histogram_count(cap, "wait_time") == 3.0


def test_dispose_and_recreation_keep_working(sqlite_engine: Any) -> None:
    """After engine.dispose() the recreated pool is still instrumented and the scrape reads the new pool."""
    with capture() as cap:
        engine = sqlite_engine(pool_size=1, max_overflow=0, pool_timeout=0.01)
        instrument_engine(engine, pool_name=NAME)
        with engine.connect():
            pass
        old_pool = engine.pool
        engine.dispose()
        assert engine.pool is not old_pool
        assert type(engine.pool).__name__ == "InstrumentedQueuePool"
        assert pool_view(cap, NAME) == {"idle": 0.0, "used": 0.0, "max": 1.0, "idle_max": 1.0}
        with engine.connect():
            assert pool_view(cap, NAME)["used"] == 1.0
            with pytest.raises(PoolTimeout):
                engine.connect()
        assert histogram_count(cap, "create_time") == 2.0
        assert count(cap, "db_client_connection_timeouts_total", NAME) == 1.0


def test_instrumenting_twice_records_once(sqlite_engine: Any) -> None:
    """A second instrument_engine call adds no second listener and no second series."""
    with capture() as cap:
        engine = sqlite_engine()
        instrument_engine(engine, pool_name=NAME)
        instrument_engine(engine, pool_name=NAME)
        with engine.connect():
            pass
        assert histogram_count(cap, "wait_time") == 1.0
        assert histogram_count(cap, "use_time") == 1.0
        assert histogram_count(cap, "create_time") == 1.0
        assert len(cap.series("db_client_connection_count")) == 2  # idle and used, once


def test_uninstrument_records_nothing_and_restores_the_pool_class(sqlite_engine: Any) -> None:
    """After uninstrument_engine (even across a dispose), checkouts, timeouts and scrapes record nothing."""
    with capture() as cap:
        engine = sqlite_engine(pool_size=1, max_overflow=0, pool_timeout=0.01)
        instrument_engine(engine, pool_name=NAME)
        engine.dispose()
        uninstrument_engine(engine)
        assert type(engine.pool).__name__ == "QueuePool"
        with engine.connect():
            with pytest.raises(PoolTimeout):
                engine.connect()
        # The children made at instrument time stay at zero.
        assert histogram_count(cap, "wait_time") == 0.0
        assert histogram_count(cap, "use_time") == 0.0
        assert histogram_count(cap, "create_time") == 0.0
        assert (
            count(cap, "db_client_connection_timeouts_total", NAME) == 0.0
        )  # exists from instrumentation, never moved
        assert cap.series("db_client_connection_count") == []
        assert cap.logs == []
        uninstrument_engine(engine)  # a second call is harmless


def test_a_raising_sink_never_breaks_checkouts(sqlite_engine: Any) -> None:
    """With a sink that raises, queries return the same rows and a pool timeout raises the same error."""

    def raising(_event: object) -> None:
        raise RuntimeError("sink down")

    with capture(extra_sinks=[raising]) as cap:
        engine = sqlite_engine(pool_size=1, max_overflow=0, pool_timeout=0.01)
        instrument_engine(engine, pool_name=NAME)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 41 + 1")).scalar() == 42
            with pytest.raises(PoolTimeout, match="QueuePool limit"):
                engine.connect()
            conn.connection.invalidate()
        assert count(cap, "db_client_connection_timeouts_total", NAME) == 1.0
        assert (
            cap.sample("resilience_telemetry_sink_errors_total", sink="raising") == 3.0
        )  # exhausted, timeout, invalidated


def test_invalidations_count_hard_and_soft_by_error_type(sqlite_engine: Any) -> None:
    """A hard and a soft invalidation are counted separately, with the bounded error.type of their cause."""
    with capture() as cap:
        engine = sqlite_engine()
        instrument_engine(engine, pool_name=NAME)
        with engine.connect() as conn:
            conn.connection.invalidate(ValueError("secret detail"), soft=True)
        with engine.connect() as conn:
            conn.invalidate()
        assert sorted(cap.series("resilience_db_pool_invalidations_total"), key=str) == [
            {POOL: NAME, "invalidation": "hard", "error_type": ""},
            {POOL: NAME, "invalidation": "soft", "error_type": "ValueError"},
        ]
        assert [line for line in cap.logs if line["event"] == "telemetry.pool.connection_invalidated"] == [
            {
                "event": "telemetry.pool.connection_invalidated",
                "log_level": "info",
                "db.client.connection.pool.name": NAME,
                "resilience.pool.invalidation": "soft",
                "error.type": "ValueError",
            },
            {
                "event": "telemetry.pool.connection_invalidated",
                "log_level": "info",
                "db.client.connection.pool.name": NAME,
                "resilience.pool.invalidation": "hard",
            },
        ]


def test_a_connection_left_to_the_garbage_collector_counts_as_a_leak(sqlite_engine: Any) -> None:
    """A connection dropped without close() is returned by the GC: gc_returned counts it and a WARNING says so;
    properly closed connections never count."""
    with capture() as cap:
        engine = sqlite_engine()
        instrument_engine(engine, pool_name=NAME)
        with engine.connect():
            pass
        leaked = engine.raw_connection()
        del leaked
        gc.collect()
        assert count(cap, "resilience_db_pool_gc_returned_total", NAME) == 1.0
        assert [line for line in cap.logs if line["event"] == "telemetry.pool.connection_garbage_collected"] == [
            {
                "event": "telemetry.pool.connection_garbage_collected",
                "log_level": "warning",
                "db.client.connection.pool.name": NAME,
            }
        ]
        assert pool_view(cap, NAME)["used"] == 0.0


def test_pool_names_never_carry_credentials(sqlite_engine: Any) -> None:
    """The default name is host:port/database (or pool_logging_name); user, password and query never appear."""
    from sqlalchemy import create_engine

    secret = create_engine("postgresql+psycopg://app:hunter2@db.internal:6543/shop?password=hunter2")
    assert pool_name_for(secret) == "db.internal:6543/shop"
    named = create_engine("postgresql+psycopg://app:hunter2@db.internal/shop", pool_logging_name="shop-primary")
    assert pool_name_for(named) == "shop-primary"
    no_port = create_engine("postgresql+psycopg://app:hunter2@db.internal/shop")
    assert pool_name_for(no_port) == "db.internal/shop"
    engine = sqlite_engine()
    with capture() as cap:
        instrument_engine(engine)
        with engine.connect():
            pass
        [series] = cap.series("db_client_connection_wait_time_seconds_count")
        assert series[POOL].endswith("pool.db") or len(series[POOL]) == 64
        assert "hunter2" not in str(cap.registry.collect())


def test_instrumented_pool_class_can_be_passed_as_poolclass(sqlite_engine: Any) -> None:
    """poolclass=InstrumentedQueuePool needs no class switch; uninstrumenting keeps the user's class but stops recording."""
    from telemetry.integrations.sqlalchemy import InstrumentedQueuePool

    with capture() as cap:
        engine = sqlite_engine(poolclass=InstrumentedQueuePool, pool_size=1, max_overflow=0, pool_timeout=0.01)
        instrument_engine(engine, pool_name=NAME)
        assert type(engine.pool) is InstrumentedQueuePool
        with engine.connect():
            with pytest.raises(PoolTimeout):
                engine.connect()
        uninstrument_engine(engine)
        assert type(engine.pool) is InstrumentedQueuePool
        with engine.connect():
            with pytest.raises(PoolTimeout):
                engine.connect()
        assert count(cap, "db_client_connection_timeouts_total", NAME) == 1.0


def test_telemetry_instrument_takes_an_engine(sqlite_engine: Any) -> None:
    """telemetry.instrument(engine=...) sets up and instruments the engine in the set-up's registry, once."""
    registry = CollectorRegistry()
    engine = sqlite_engine(pool_size=3, max_overflow=2)
    telemetry.instrument(engine=engine, registry=registry, service_name="pool-test")
    telemetry.instrument(engine=engine)
    with engine.connect():
        pass
    name = pool_name_for(engine)
    labels = {POOL: name[:64]}
    assert registry.get_sample_value("db_client_connection_wait_time_seconds_count", labels) == 1.0
    assert registry.get_sample_value("db_client_connection_max", labels) == 5.0


def test_engines_sharing_a_name_add_up_in_one_series(sqlite_engine: Any) -> None:
    """Two engines given the same pool name report one series whose values are the sums (no duplicate samples)."""
    with capture() as cap:
        first, second = sqlite_engine(pool_size=2, max_overflow=1), sqlite_engine(pool_size=3, max_overflow=0)
        instrument_engine(first, pool_name=NAME)
        instrument_engine(second, pool_name=NAME)
        with first.connect(), second.connect():
            assert pool_view(cap, NAME) == {"idle": 0.0, "used": 2.0, "max": 6.0, "idle_max": 5.0}


def test_a_null_pool_still_records_create_and_use_times(sqlite_engine: Any) -> None:
    """Pools that never wait (NullPool) get create and use times; they have no count or max to report."""
    from sqlalchemy.pool import NullPool

    with capture() as cap:
        engine = sqlite_engine(poolclass=NullPool)
        instrument_engine(engine, pool_name=NAME)
        for _ in range(2):
            with engine.connect():
                pass
        assert histogram_count(cap, "create_time") == 2.0
        assert histogram_count(cap, "use_time") == 2.0
        assert histogram_count(cap, "wait_time") == 0.0
        assert cap.series("db_client_connection_count") == []


async def test_async_engine_times_out_and_counts_like_a_sync_one(tmp_path: Any) -> None:
    """An AsyncEngine (aiosqlite, AsyncAdaptedQueuePool) records waits, timeouts and the scrape-time view."""
    pytest.importorskip("aiosqlite")
    from sqlalchemy.ext.asyncio import create_async_engine

    with capture() as cap:
        engine = create_async_engine(
            f"sqlite+aiosqlite:///{tmp_path / 'async.db'}", pool_size=1, max_overflow=0, pool_timeout=0.05
        )
        instrument_engine(engine, pool_name=NAME)
        assert type(engine.sync_engine.pool).__name__ == "InstrumentedAsyncAdaptedQueuePool"
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
            assert pool_view(cap, NAME) == {"idle": 0.0, "used": 1.0, "max": 1.0, "idle_max": 1.0}
            with pytest.raises(PoolTimeout):
                await engine.connect().start()
        assert count(cap, "db_client_connection_timeouts_total", NAME) == 1.0
        assert count(cap, "db_client_connection_pending_requests", NAME) == 0.0
        assert histogram_count(cap, "use_time") == 1.0
        uninstrument_engine(engine)
        await engine.dispose()


async def test_an_async_connection_left_to_the_garbage_collector_counts_as_a_leak(tmp_path: Any) -> None:
    """On an AsyncEngine SQLAlchemy terminates a garbage-collected connection (and warns); it is counted as a leak."""
    pytest.importorskip("aiosqlite")
    from sqlalchemy.exc import SAWarning
    from sqlalchemy.ext.asyncio import create_async_engine

    with capture() as cap:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'async.db'}", pool_size=2, max_overflow=0)
        instrument_engine(engine, pool_name=NAME)
        leaked = await engine.connect()
        await leaked.execute(text("SELECT 1"))
        del leaked
        with pytest.warns(SAWarning, match="garbage collector is trying to clean up"):
            gc.collect()
        assert count(cap, "resilience_db_pool_gc_returned_total", NAME) == 1.0
        assert pool_view(cap, NAME)["used"] == 0.0
        uninstrument_engine(engine)
        await engine.dispose()
    # aiosqlite's worker thread answers the terminated connection on this loop: let it, before
    # the loop closes, or pytest reports its exception in whichever test runs next.
    await asyncio.sleep(0.2)
