"""A stalled database and a stalled broker under the scrape-time collectors (issue 15, finding 1).

PostgreSQL and RabbitMQ are reached through a loopback TCP proxy that stops forwarding bytes
while keeping connections open, as behind a network partition. A concurrent endpoint keeps
its latency while ``/metrics`` is scraped, and the readings recover when the proxy resumes.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

import telemetry
from telemetry.testing import eventually_async, in_memory_tracer, port_open, require_service

from .stall_proxy import StallingProxy

PG = ("127.0.0.1", 5432)
AMQP = ("127.0.0.1", 5672)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


async def _ping_latencies(client: httpx.AsyncClient, scrapes: int) -> list[float]:
    """Ping while a scraper scrapes ``scrapes`` times concurrently; the pings' latencies."""
    latencies: list[float] = []
    done = asyncio.Event()

    async def scraper() -> None:
        for _ in range(scrapes):
            assert (await client.get("/metrics")).status_code == 200
            await asyncio.sleep(0.02)
        done.set()

    task = asyncio.create_task(scraper())
    while not done.is_set() or len(latencies) < 100:
        started = time.perf_counter()
        assert (await client.get("/ping")).status_code == 200
        latencies.append(time.perf_counter() - started)
    await task
    return latencies


def _stall_app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        await asyncio.sleep(0.005)  # a request doing a little I/O of its own
        return {"ok": "yes"}

    return app


async def _prepare(table: str, queue: str) -> None:
    import aio_pika
    import sqlalchemy as sa

    engine = sa.create_engine(f"postgresql+psycopg://postgres@{PG[0]}:{PG[1]}/test")
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (id serial PRIMARY KEY, status text, created_at timestamptz)"))
        conn.execute(
            sa.text(
                f"INSERT INTO {table} (status, created_at) VALUES ('pending', now()), ('pending', now()), ('failed', now())"
            )
        )
    engine.dispose()
    connection = await aio_pika.connect(f"amqp://guest:guest@{AMQP[0]}:{AMQP[1]}/")
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(queue, auto_delete=False)
        for n in range(2):
            await channel.default_exchange.publish(aio_pika.Message(body=str(n).encode()), routing_key=queue)


async def _cleanup(table: str, queue: str) -> None:
    import aio_pika
    import sqlalchemy as sa

    engine = sa.create_engine(f"postgresql+psycopg://postgres@{PG[0]}:{PG[1]}/test")
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()
    connection = await aio_pika.connect(f"amqp://guest:guest@{AMQP[0]}:{AMQP[1]}/")
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(queue)


async def test_stalled_database_and_broker_never_slow_a_concurrent_endpoint() -> None:
    """With PostgreSQL and RabbitMQ both stalled (connections open, no byte answered), the p99 of
    a concurrent endpoint stays within 2x of its baseline while /metrics is scraped, the stale
    flags say 1 and the last readings are still served; after the stall the readings recover."""
    require_service(port_open(*PG), "PostgreSQL on 127.0.0.1:5432")
    require_service(port_open(*AMQP), "RabbitMQ on 127.0.0.1:5672")
    from telemetry.dlq import watch_dead_letter_queues
    from telemetry.outbox.backlog import watch_outbox

    suffix = uuid.uuid4().hex[:8]
    table, queue = f"s_pc_outbox_{suffix}", f"s-pc.stall.{suffix}.dlq"
    await _prepare(table, queue)
    registry = CollectorRegistry()
    provider, _ = in_memory_tracer()
    app = _stall_app()
    result = telemetry.instrument(app, registry=registry, tracer_provider=provider)
    with StallingProxy(PG) as pg, StallingProxy(AMQP) as broker:
        try:
            watch_outbox(
                f"postgresql+psycopg://postgres@127.0.0.1:{pg.port}/test",
                telemetry=result,
                table=table,
                timeout=1.0,
                min_interval=0.0,
            )
            watch_dead_letter_queues(
                [queue],
                url=f"amqp://guest:guest@127.0.0.1:{broker.port}/",
                telemetry=result,
                timeout=1.0,
                min_interval=0.0,
            )
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=30) as client:
                fresh: dict[Any, float] = {}

                async def readings_fresh() -> bool:
                    fresh.update(_samples((await client.get("/metrics")).text))
                    return (
                        fresh.get(("resilience_outbox_backlog_stale", (("outbox_table", table),))) == 0.0
                        and fresh.get(("resilience_dlq_stats_stale", (("queue", queue),))) == 0.0
                    )

                await eventually_async(readings_fresh, timeout=20, what="first readings")
                baseline = await _ping_latencies(client, scrapes=20)
                pg.stall()
                broker.stall()
                during = await _ping_latencies(client, scrapes=20)
                stalled = _samples((await client.get("/metrics")).text)
                pg.resume()
                broker.resume()
                await eventually_async(readings_fresh, timeout=30, what="readings after the stall")
        finally:
            telemetry.state.reset()
            await _cleanup(table, queue)
    assert _p99(during) <= 2 * _p99(baseline), f"p99 {_p99(during):.4f}s during vs {_p99(baseline):.4f}s before"
    backlog = {
        "pending": stalled[("resilience_outbox_rows", (("outbox_table", table), ("status", "pending")))],
        "failed": stalled[("resilience_outbox_rows", (("outbox_table", table), ("status", "failed")))],
        "stale": stalled[("resilience_outbox_backlog_stale", (("outbox_table", table),))],
    }
    assert backlog == {"pending": 2.0, "failed": 1.0, "stale": 1.0}
    dlq = {
        "depth": stalled[("resilience_dlq_depth", (("queue", queue),))],
        "stale": stalled[("resilience_dlq_stats_stale", (("queue", queue),))],
    }
    assert dlq == {"depth": 2.0, "stale": 1.0}
    assert fresh[("resilience_outbox_rows", (("outbox_table", table), ("status", "pending")))] == 2.0
    assert fresh[("resilience_dlq_depth", (("queue", queue),))] == 2.0
