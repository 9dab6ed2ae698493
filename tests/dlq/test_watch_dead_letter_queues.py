"""watch_dead_letter_queues / unwatch_dead_letter_queues on real RabbitMQ: idempotent, several
queues and several calls on one registry (one ``queue`` series each on /metrics), unwatching
removes the series."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

import telemetry
from telemetry.dlq import unwatch_dead_letter_queues, watch_dead_letter_queues
from telemetry.testing import in_memory_tracer
from tests.conftest import port_open, require

AMQP = "amqp://guest:guest@127.0.0.1:5672/"
NAMES = ("resilience_dlq_depth", "resilience_dlq_stats_stale")


@pytest.fixture
async def queues() -> AsyncIterator[tuple[str, str, str]]:
    """Three ``h2_`` queues holding one, two and three messages; deleted afterwards."""
    require(port_open("127.0.0.1", 5672), "RabbitMQ on 127.0.0.1:5672")
    import aio_pika

    uid = uuid.uuid4().hex[:8]
    names = (f"h2_dlq_a_{uid}", f"h2_dlq_b_{uid}", f"h2_dlq_c_{uid}")
    connection = await aio_pika.connect(AMQP)
    channel = await connection.channel(publisher_confirms=True)
    for count, name in enumerate(names, start=1):
        await channel.declare_queue(name)
        for _ in range(count):
            await channel.default_exchange.publish(aio_pika.Message(b"x"), routing_key=name)
    try:
        yield names
    finally:
        for name in names:
            await channel.queue_delete(name)
        await connection.close()


async def scrape(app: FastAPI) -> dict[tuple[str, str], float]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    return {
        (s.name, s.labels["queue"]): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
        if s.name in NAMES
    }


def series(queue: str, depth: float) -> dict[tuple[str, str], float]:
    return {("resilience_dlq_depth", queue): depth, ("resilience_dlq_stats_stale", queue): 0.0}


async def test_two_calls_and_several_queues_then_unwatch(queues: tuple[str, str, str]) -> None:
    """Two calls (one queue, then two) on one registry give three ``queue`` series with each
    queue's depth; watching a queue again changes nothing; unwatching removes exactly the
    series of the queues named, and the last unwatch leaves none."""
    a, b, c = queues
    app = FastAPI()
    provider, _ = in_memory_tracer()
    setup: Any = telemetry.instrument(app, registry=CollectorRegistry(), tracer_provider=provider)
    first = watch_dead_letter_queues([a], url=AMQP, telemetry=setup, min_interval=0)
    second = watch_dead_letter_queues([b, c], url=AMQP, telemetry=setup, min_interval=0)
    assert second is not first
    assert watch_dead_letter_queues([a], url=AMQP, telemetry=setup, min_interval=0) is first
    assert await scrape(app) == {**series(a, 1), **series(b, 2), **series(c, 3)}

    assert unwatch_dead_letter_queues([b, "h2_never_watched"], telemetry=setup) == [b]
    assert await scrape(app) == {**series(a, 1), **series(c, 3)}
    assert unwatch_dead_letter_queues([a, c], telemetry=setup) == [a, c]
    assert await scrape(app) == {}
    assert unwatch_dead_letter_queues([a], telemetry=setup) == []
