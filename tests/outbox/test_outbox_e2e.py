"""End to end on real PostgreSQL and RabbitMQ: HTTP -> DB + outbox -> relay -> broker ->
consumer -> DLQ -> redrive, and a broker outage the outbox rides out."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI
from opentelemetry.trace import SpanKind
from outbox_support import AMQP, PG_SYNC, Db, TcpProxy, Topology, eventually, log_lines, queue_depth
from prometheus_client import CollectorRegistry
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

import telemetry
from telemetry.dlq import RedriveReport, redrive, unwatch_dead_letter_queues, watch_dead_letter_queues
from telemetry.integrations.aio_pika import AioPikaDeadLetterSource, AioPikaPublisher, instrument_consumer
from telemetry.messaging import PRODUCER_HEADER
from telemetry.outbox import OutboxRelay, enqueue, watch_outbox
from telemetry.testing import in_memory_tracer


def orders_app(db: Db, destination: str) -> FastAPI:
    app = FastAPI()

    @app.post("/orders")
    async def create_order(body: dict[str, Any]) -> dict[str, Any]:
        order_id = uuid.uuid4().hex
        async with AsyncSession(db.engine) as session, session.begin():
            await session.execute(insert(db.orders).values(id=order_id, item=body["item"]))
            await enqueue(session, db.outbox, destination=destination, payload={"order_id": order_id})
        structlog.get_logger("orders").info("order.created", order_id=order_id)
        return {"id": order_id}

    return app


@pytest.mark.slow
async def test_request_to_dead_letter_queue_and_redrive(db: Db, rabbit: Topology, log_stream: io.StringIO) -> None:
    """A request with correlation ID C creates an order and an outbox row in one transaction;
    the relay publishes; the consumer fails three times and dead-letters; the DLQ depth reads 1
    and the DLQ message carries C and the request's traceparent; producer and consumer spans
    link back to the request's trace; every log line of the chain carries C; a redrive with a
    fixed handler processes the message and the depth returns to 0."""
    cid = "order-flow-42"
    registry = CollectorRegistry()
    provider, exporter = in_memory_tracer()
    app = orders_app(db, rabbit.destination)
    setup = telemetry.instrument(app, registry=registry, tracer_provider=provider, service_name="orders")
    watch_dead_letter_queues([rabbit.dlq], url=AMQP, telemetry=setup, min_interval=0)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://orders") as client:
        response = await client.post("/orders", json={"item": "book"}, headers={"X-Correlation-ID": cid})
    assert response.status_code == 200
    assert (
        registry.get_sample_value(
            "resilience_outbox_enqueued_total", {"messaging_destination_name": rabbit.destination}
        )
        == 1.0
    )
    (server_span,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    request_trace = server_span.context.trace_id

    publisher = AioPikaPublisher(AMQP)
    relay = OutboxRelay(db.engine, db.outbox, publisher, tracer_provider=provider)
    assert await relay.run_once() == 1

    attempts: list[str | None] = []

    async def broken(message: Any) -> None:
        attempts.append(telemetry.get_correlation_id())
        structlog.get_logger("orders").info("order.processing", body=message.body.decode())
        raise RuntimeError("payment service down")

    work = await rabbit.channel.get_queue(rabbit.queue)
    tag = await work.consume(instrument_consumer(broken, queue=rabbit.queue, max_attempts=3, tracer_provider=provider))
    await eventually(lambda: _depth_is(rabbit, rabbit.dlq, 1))
    await work.cancel(tag)
    assert attempts == [cid, cid, cid]
    assert registry.get_sample_value("resilience_dlq_depth", {"queue": rabbit.dlq}) == 1.0
    assert registry.get_sample_value("resilience_dlq_stats_stale", {"queue": rabbit.dlq}) == 0.0
    assert registry.get_sample_value("resilience_dlq_oldest_age_seconds", {"queue": rabbit.dlq}) < 60

    dlq = await rabbit.channel.get_queue(rabbit.dlq)
    dead = await dlq.get(no_ack=False, timeout=5)
    headers = dict(dead.headers)
    await dead.reject(requeue=True)
    assert headers["x-correlation-id"] == cid
    assert dead.correlation_id == cid
    assert headers["traceparent"].split("-")[1] == format(request_trace, "032x")
    assert [(d["queue"], d["reason"], d["count"]) for d in headers["x-death"]] == [(rabbit.queue, "rejected", 1)]

    processed: list[str | None] = []

    async def fixed(message: Any) -> None:
        processed.append(telemetry.get_correlation_id())

    tag = await work.consume(instrument_consumer(fixed, queue=rabbit.queue, max_attempts=3, tracer_provider=provider))
    report = await redrive(AioPikaDeadLetterSource(rabbit.channel), publisher, rabbit.dlq, tracer_provider=provider)
    assert report == RedriveReport(moved=1, failed=0)
    await eventually(lambda: _true(processed))
    await work.cancel(tag)
    await publisher.close()
    assert processed == [cid]
    assert registry.get_sample_value("resilience_dlq_depth", {"queue": rabbit.dlq}) == 0.0

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("resilience_outbox_dispatched_total", messaging_destination_name=rabbit.destination,
                  outcome="published", error_type="") == 1.0  # fmt: skip
    assert sample("resilience_outbox_delivery_lag_seconds_count", messaging_destination_name=rabbit.destination) == 1.0
    consumed = {o: sample("resilience_consumer_messages_total", queue=rabbit.queue, outcome=o)
                for o in ("success", "retry", "dead_lettered")}  # fmt: skip
    assert consumed == {"success": 1.0, "retry": 2.0, "dead_lettered": 1.0}
    assert sample("resilience_dlq_dead_lettered_total", queue=rabbit.queue, reason="rejected",
                  error_type="RuntimeError") == 1.0  # fmt: skip
    assert sample("resilience_dlq_redrives_total", queue=rabbit.dlq, outcome="success") == 1.0

    spans = exporter.get_finished_spans()
    producers = [s for s in spans if s.kind is SpanKind.PRODUCER]
    consumers = [s for s in spans if s.kind is SpanKind.CONSUMER]
    # semconv span names are "<operation> <destination>": the relay publishes, the redrive redrives
    assert [s.name for s in producers] == [f"publish {rabbit.destination}", f"redrive {rabbit.queue}"]
    assert [s.name for s in consumers] == [f"process {rabbit.queue}"] * 4
    publish = producers[0]
    assert dict(publish.attributes) == {
        "messaging.system": "rabbitmq",
        "messaging.destination.name": rabbit.destination,
        "messaging.operation.type": "send",
        "messaging.operation.name": "publish",
        "messaging.message.id": dead.message_id,
        "messaging.message.conversation_id": cid,
        "resilience.outbox.attempt": 1,
    }
    for span in [*producers, *consumers]:
        assert request_trace in {link.context.trace_id for link in span.links}, span.name
    first_try_links = {link.attributes["resilience.link.kind"]: link.context.span_id for link in consumers[0].links}
    assert first_try_links == {"creation": server_span.context.span_id, "publish": publish.context.span_id}
    assert headers[PRODUCER_HEADER].split("-")[2] == format(publish.context.span_id, "016x")
    assert [s.status.status_code.name for s in consumers] == ["ERROR", "ERROR", "ERROR", "UNSET"]

    chain = [line for line in log_lines(log_stream) if line["logger"] in ("orders", "telemetry")]
    assert {line["correlation_id"] for line in chain} == {cid}
    events = [line["event"] for line in chain]
    assert events == [
        "order.created",
        "order.processing",
        "telemetry.consumer.retry_scheduled",
        "order.processing",
        "telemetry.consumer.retry_scheduled",
        "order.processing",
        "telemetry.dlq.dead_lettered",
        "telemetry.dlq.redriven",
    ]
    dead_line = next(line for line in chain if line["event"] == "telemetry.dlq.dead_lettered")
    assert {
        k: dead_line[k]
        for k in (
            "messaging.destination.name",
            "resilience.dlq.reason",
            "resilience.consumer.attempt",
            "error.type",
            "level",
        )
    } == {
        "messaging.destination.name": rabbit.queue,
        "resilience.dlq.reason": "rejected",
        "resilience.consumer.attempt": 3,
        "error.type": "RuntimeError",
        "level": "error",
    }
    assert unwatch_dead_letter_queues([rabbit.dlq], telemetry=setup) == [rabbit.dlq]


async def _depth_is(rabbit: Topology, queue: str, expected: int) -> bool:
    return await queue_depth(rabbit, queue) == expected


async def _true(items: list[Any]) -> bool:
    return bool(items)


@pytest.mark.slow
async def test_broker_outage_backlog_grows_then_drains_exactly_once(db: Db, rabbit: Topology, proxy: TcpProxy) -> None:
    """The broker becomes unreachable: the backlog and oldest-pending age grow, the relay
    heartbeat stops moving; after the broker returns everything drains, each message exactly
    once, and the backlog reads 0."""
    registry = CollectorRegistry()
    provider, _ = in_memory_tracer()
    setup = telemetry.setup(registry=registry, tracer_provider=provider)
    backlog = watch_outbox(PG_SYNC, telemetry=setup, table=db.outbox.name, min_interval=0, timeout=2.0)
    publisher = AioPikaPublisher(f"amqp://guest:guest@127.0.0.1:{proxy.port}/", connect_timeout=1, confirm_timeout=2)
    relay = OutboxRelay(db.engine, db.outbox, publisher, backoff=lambda _: 0.0, max_attempts=1000, batch_size=50)

    async def enqueue_many(n: int) -> list[str]:
        ids = []
        for _ in range(n):
            async with AsyncSession(db.engine) as session, session.begin():
                ids.append(await enqueue(session, db.outbox, destination=rabbit.destination, payload=b"x"))
        return ids

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"outbox_table": db.outbox.name, **labels})

    sent = await enqueue_many(3)
    assert await relay.run_once() == 3
    heartbeat = registry.get_sample_value("resilience_outbox_relay_last_heartbeat_timestamp_seconds")
    assert heartbeat is not None
    assert value("resilience_outbox_rows", status="pending") == 0.0

    await proxy.stop()
    sent += await enqueue_many(2)
    for _ in range(3):
        assert await relay.run_once() == 0
    pending_early = value("resilience_outbox_rows", status="pending")
    age_early = value("resilience_outbox_oldest_pending_age_seconds")
    await asyncio.sleep(0.3)
    sent += await enqueue_many(3)
    assert await relay.run_once() == 0
    assert (pending_early, value("resilience_outbox_rows", status="pending")) == (2.0, 5.0)
    assert value("resilience_outbox_oldest_pending_age_seconds") > age_early + 0.25
    assert value("resilience_outbox_backlog_stale") == 0.0
    assert registry.get_sample_value("resilience_outbox_relay_last_heartbeat_timestamp_seconds") == heartbeat
    retries = [
        s for m in registry.collect() for s in m.samples
        if s.name == "resilience_outbox_dispatched_total" and s.labels["outcome"] == "retry_scheduled"
    ]  # fmt: skip
    assert sum(s.value for s in retries) >= 4
    assert {s.labels["error_type"] for s in retries} <= {"AMQPConnectionError", "ConnectionRefusedError"}

    await proxy.start()
    deadline = time.monotonic() + 15
    while value("resilience_outbox_rows", status="pending") != 0.0:
        assert time.monotonic() < deadline, "the outbox did not drain"
        await relay.run_once()
    await publisher.close()
    assert registry.get_sample_value("resilience_outbox_relay_last_heartbeat_timestamp_seconds") > heartbeat
    assert value("resilience_outbox_oldest_pending_age_seconds") == 0.0

    work = await rabbit.channel.get_queue(rabbit.queue)
    received = []
    while (message := await work.get(no_ack=True, fail=False)) is not None:
        received.append(message.message_id)
    assert sorted(received) == sorted(sent)
    assert len(received) == 8
    async with db.engine.connect() as conn:
        statuses = (await conn.execute(select(db.outbox.c.status, func.count()).group_by(db.outbox.c.status))).all()
    assert dict(statuses) == {"published": 8}
    setup.instruments.unregister(backlog)
