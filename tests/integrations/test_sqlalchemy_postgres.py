"""Connection-pool telemetry against the real PostgreSQL on 127.0.0.1:5432 (sync and async engines)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from telemetry.integrations.sqlalchemy import instrument_engine, uninstrument_engine
from telemetry.testing import capture
from tests.integrations.pool_support import PG_NAME, POOL, count, pg_url, pool_view, terminate_backends

pytest.importorskip("sqlalchemy")
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

pytestmark = pytest.mark.services


class Peaks:
    """Samples the scrape-time view and the pending gauge in the background, keeping the maxima."""

    def __init__(self, cap: Any) -> None:
        self.cap = cap
        self.used = 0.0
        self.pending = 0.0

    def sample(self) -> None:
        self.used = max(self.used, pool_view(self.cap, PG_NAME)["used"] or 0.0)
        self.pending = max(self.pending, count(self.cap, "db_client_connection_pending_requests", PG_NAME) or 0.0)


def test_exhaustion_counts_timeouts_and_peaks_at_size_plus_overflow(pg_schema: str) -> None:
    """pool_size=2, max_overflow=1, pool_timeout=0.2 and five concurrent holders: two time out, used peaks at 3,
    pending requests rise to 2 and fall back to 0, and the scrape matches pool.checkedout() throughout."""
    with capture() as cap:
        engine = create_engine(pg_url(), pool_size=2, max_overflow=1, pool_timeout=0.2)
        instrument_engine(engine)
        release, timeouts, holding = threading.Event(), [], []
        peaks, stop = Peaks(cap), threading.Event()

        def holder(number: int) -> None:
            try:
                with engine.connect() as conn:
                    conn.execute(text(f"INSERT INTO {pg_schema}.holders (holder) VALUES (:n)"), {"n": number})
                    conn.commit()
                    holding.append(number)
                    release.wait(5)
            except PoolTimeout as exc:
                timeouts.append(exc)

        def monitor() -> None:
            while not stop.is_set():
                peaks.sample()
                time.sleep(0.002)

        watcher = threading.Thread(target=monitor)
        watcher.start()
        threads = [threading.Thread(target=holder, args=(n,)) for n in range(5)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 5
        while len(timeouts) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pool_view(cap, PG_NAME)["used"] == engine.pool.checkedout() == 3
        release.set()
        for thread in threads:
            thread.join(5)
        stop.set()
        watcher.join(5)

        assert (len(timeouts), len(holding)) == (2, 3)
        assert (peaks.used, peaks.pending) == (3.0, 2.0)
        assert count(cap, "db_client_connection_timeouts_total", PG_NAME) == 2.0
        assert count(cap, "resilience_db_pool_exhausted_total", PG_NAME) == 2.0
        assert count(cap, "db_client_connection_pending_requests", PG_NAME) == 0.0
        assert pool_view(cap, PG_NAME) == {"idle": 2.0, "used": 0.0, "max": 3.0, "idle_max": 2.0}
        warnings = [line for line in cap.logs if line["event"] == "telemetry.pool.timed_out"]
        assert [
            (w["log_level"], w["db.pool.size"], w["db.pool.max_overflow"], w["db.pool.checked_out"]) for w in warnings
        ] == [
            ("warning", 2, 1, 3),
            ("warning", 2, 1, 3),
        ]
        assert all(0.2 <= w["db.pool.waited_s"] < 2 for w in warnings)
        with engine.connect() as conn:
            assert conn.execute(text(f"SELECT count(*) FROM {pg_schema}.holders")).scalar() == 3
        uninstrument_engine(engine)
        engine.dispose()


def backend_pids(engine: Any, n: int) -> list[int]:
    """Open ``n`` pooled connections at once, note their backend PIDs, return them all to the pool idle."""
    conns = [engine.connect() for _ in range(n)]
    pids = [conn.execute(text("SELECT pg_backend_pid()")).scalar() for conn in conns]
    for conn in conns:
        conn.close()
    return pids


def test_terminated_idle_connections_are_caught_by_pre_ping(postgres: None) -> None:
    """Backends killed while idle: pre-ping invalidates (counted as hard, error.type InvalidatePoolError),
    the pool reconnects, and the next queries succeed without the application seeing an error."""
    with capture() as cap:
        engine = create_engine(pg_url(), pool_size=2, max_overflow=0, pool_pre_ping=True)
        instrument_engine(engine)
        terminate_backends(backend_pids(engine, 2))
        for _ in range(2):
            with engine.connect() as conn:
                assert conn.execute(text("SELECT 1")).scalar() == 1
        assert cap.series("resilience_db_pool_invalidations_total") == [
            {POOL: PG_NAME, "invalidation": "hard", "error_type": "InvalidatePoolError"}
        ]
        assert (
            count(
                cap,
                "resilience_db_pool_invalidations_total",
                PG_NAME,
                invalidation="hard",
                error_type="InvalidatePoolError",
            )
            == 1.0
        )
        # Two first connections, then two replacements (the second one recycled by the pool-wide invalidation).
        assert count(cap, "db_client_connection_create_time_seconds_count", PG_NAME) == 4.0
        assert pool_view(cap, PG_NAME) == {"idle": 2.0, "used": 0.0, "max": 2.0, "idle_max": 2.0}
        uninstrument_engine(engine)
        engine.dispose()


def test_a_connection_killed_mid_use_is_invalidated_with_the_driver_error(postgres: None) -> None:
    """Without pre-ping, the query on a killed backend fails (the application sees it), the connection is
    invalidated with the driver's error class as error.type (psycopg's AdminShutdown, an OperationalError),
    and the next checkout reconnects."""
    with capture() as cap:
        engine = create_engine(pg_url(), pool_size=1, max_overflow=0)
        instrument_engine(engine)
        terminate_backends(backend_pids(engine, 1))
        with engine.connect() as conn, pytest.raises(OperationalError):
            conn.execute(text("SELECT 1"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 2")).scalar() == 2
        assert cap.series("resilience_db_pool_invalidations_total") == [
            {POOL: PG_NAME, "invalidation": "hard", "error_type": "AdminShutdown"}
        ]
        uninstrument_engine(engine)
        engine.dispose()


@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
async def test_async_engine_exhaustion_and_pre_ping(driver: str, pg_schema: str) -> None:
    """An AsyncEngine on asyncpg or psycopg 3: five concurrent holders on 2+1 connections give two timeouts,
    used peaks at 3 and pending falls back to 0; killed idle backends are caught by pre-ping."""
    pytest.importorskip(driver)
    from sqlalchemy.ext.asyncio import create_async_engine

    with capture() as cap:
        engine = create_async_engine(pg_url(driver), pool_size=2, max_overflow=1, pool_timeout=0.2, pool_pre_ping=True)
        instrument_engine(engine)
        release = asyncio.Event()
        peaks = Peaks(cap)

        async def holder(number: int) -> str:
            try:
                async with engine.connect() as conn:
                    await conn.execute(text(f"INSERT INTO {pg_schema}.holders (holder) VALUES (:n)"), {"n": number})
                    await conn.commit()
                    await asyncio.wait_for(release.wait(), 5)
                    return "held"
            except PoolTimeout:
                return "timed out"

        async def monitor() -> None:
            while True:
                peaks.sample()
                await asyncio.sleep(0.002)

        watcher = asyncio.create_task(monitor())
        tasks = [asyncio.create_task(holder(n)) for n in range(5)]
        for _ in range(500):
            if sum(task.done() for task in tasks) == 2:
                break
            await asyncio.sleep(0.01)
        release.set()
        outcomes = sorted(await asyncio.gather(*tasks))
        watcher.cancel()
        assert outcomes == ["held", "held", "held", "timed out", "timed out"]
        assert (peaks.used, peaks.pending) == (3.0, 2.0)
        assert count(cap, "db_client_connection_timeouts_total", PG_NAME) == 2.0
        assert count(cap, "db_client_connection_pending_requests", PG_NAME) == 0.0

        conns = [await engine.connect() for _ in range(2)]
        pids = [(await conn.execute(text("SELECT pg_backend_pid()"))).scalar() for conn in conns]
        for conn in conns:
            await conn.close()
        await asyncio.to_thread(terminate_backends, pids)
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
        assert (
            count(
                cap,
                "resilience_db_pool_invalidations_total",
                PG_NAME,
                invalidation="hard",
                error_type="InvalidatePoolError",
            )
            == 1.0
        )
        assert pool_view(cap, PG_NAME)["used"] == 0.0
        uninstrument_engine(engine)
        await engine.dispose()
