"""Outbox pieces one at a time: enqueue after commit, the publish span and outcomes, the
reference relay, the backlog and DLQ collectors under slow or dead backends, redrive, and the
in-memory stand-in on SQLite (the demo's path)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from opentelemetry.trace import SpanKind
from outbox_support import PG_SYNC, Db, RaisingSink
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

import telemetry
from telemetry.dlq import DeadLetterQueueCollector, QueueStats, RedriveReport, redrive
from telemetry.integrations.aio_pika import instrument_consumer
from telemetry.outbox import (
    OutboxBacklogCollector,
    OutboxMessage,
    OutboxRelay,
    PublishResult,
    context_headers,
    enqueue,
    outbox_table,
    publish_instrumented,
)
from telemetry.testing import capture
from telemetry.testing.broker import InMemoryBroker

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def message(**overrides: Any) -> OutboxMessage:
    values: dict[str, Any] = {
        "message_id": "m1",
        "destination": "orders",
        "payload": b"{}",
        "headers": {"traceparent": TRACEPARENT, "x-correlation-id": "c-9"},
        "created_at": datetime.now(timezone.utc) - timedelta(seconds=2),
    }
    return OutboxMessage(**{**values, **overrides})


async def test_enqueue_counts_after_commit_only(db: Db) -> None:
    """A committed enqueue counts once with its destination and stores the trace context and
    correlation ID on the row; a rolled-back one counts nothing and leaves no row."""
    with capture() as cap, telemetry.correlation.bound("c-commit"), cap.tracer.start_as_current_span("request") as span:
        async with AsyncSession(db.engine) as session, session.begin():
            committed = await enqueue(session, db.outbox, destination="orders:created", payload={"n": 1})
            assert cap.sample("resilience_outbox_enqueued_total", messaging_destination_name="orders:created") is None
        async with AsyncSession(db.engine) as session:
            await session.begin()
            await enqueue(session, db.outbox, destination="orders:created", payload=b"x")
            await session.rollback()  # the business rule failed
    assert cap.sample("resilience_outbox_enqueued_total", messaging_destination_name="orders:created") == 1.0
    async with db.engine.connect() as conn:
        rows = (await conn.execute(sa.select(db.outbox))).mappings().all()
    assert [(r["message_id"], r["status"], r["payload"], r["attempts"]) for r in rows] == [
        (committed, "pending", b'{"n":1}', 0)
    ]
    ctx = span.get_span_context()
    assert rows[0]["headers"] == {
        "traceparent": f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}",
        "x-correlation-id": "c-commit",
    }
    (request,) = cap.spans()
    assert [(e.name, dict(e.attributes)) for e in request.events] == [
        (
            "telemetry.outbox.enqueued",
            {"messaging.destination.name": "orders:created", "messaging.message.id": committed},
        )
    ]


async def test_publish_span_and_outcomes() -> None:
    """Success: a PRODUCER span linked to the row's trace, lag observed. Failure: retry
    scheduled with error.type, then failed once the attempt budget is spent; never raises."""
    b = InMemoryBroker()
    b.declare_queue("orders")
    with capture() as cap:
        ok = await publish_instrumented(b, message(), tracer_provider=cap.tracer_provider)
        b.available = False
        retry = await publish_instrumented(
            b, message(message_id="m2"), max_attempts=3, backoff=lambda n: 1.5 * n, tracer_provider=cap.tracer_provider
        )
        failed = await publish_instrumented(
            b, message(message_id="m3", attempts=2), max_attempts=3, tracer_provider=cap.tracer_provider
        )
    assert ok == PublishResult("published", 1)
    assert (retry.outcome, retry.attempt, retry.retry_in, type(retry.error)) == (
        "retry_scheduled",
        1,
        1.5,
        ConnectionError,
    )
    assert (failed.outcome, failed.attempt) == ("failed", 3)
    dispatched = {
        (s["outcome"], s["error_type"]): cap.sample("resilience_outbox_dispatched_total", **s)
        for s in cap.series("resilience_outbox_dispatched_total")
    }
    assert dispatched == {
        ("published", ""): 1.0,
        ("retry_scheduled", "ConnectionError"): 1.0,
        ("failed", "ConnectionError"): 1.0,
    }
    lag = cap.sample("resilience_outbox_delivery_lag_seconds_sum", messaging_destination_name="orders")
    assert 2.0 <= lag < 10.0
    spans = cap.spans()
    assert [(s.name, s.kind, s.status.status_code.name) for s in spans] == [
        ("publish orders", SpanKind.PRODUCER, "UNSET"),
        ("publish orders", SpanKind.PRODUCER, "ERROR"),
        ("publish orders", SpanKind.PRODUCER, "ERROR"),
    ]
    assert {format(link.context.trace_id, "032x") for s in spans for link in s.links} == {
        "0af7651916cd43dd8448eb211c80319c"
    }
    assert spans[2].attributes["error.type"] == "ConnectionError"
    (published,) = b.queues["orders"]
    assert published.correlation_id == "c-9"
    assert published.headers["traceparent"] == TRACEPARENT


async def test_publish_with_raising_sink_returns_the_same_result() -> None:
    """A sink that raises does not change what the relay sees."""
    b = InMemoryBroker()
    b.declare_queue("orders")
    with capture(extra_sinks=[RaisingSink()]) as cap:
        assert await publish_instrumented(b, message()) == PublishResult("published", 1)
    assert cap.sample("resilience_telemetry_sink_errors_total", sink="log") == 1.0


async def test_relay_marks_row_failed_after_budget_and_heartbeat_only_on_progress(db: Db) -> None:
    """With the broker down the relay retries, then marks the row failed; the heartbeat moves
    on idle polls but not on polls where every publish failed."""
    b = InMemoryBroker()
    b.declare_queue("orders")
    b.available = False
    relay = OutboxRelay(db.engine, db.outbox, b, max_attempts=2, backoff=lambda _: 0.0)
    heartbeat = "resilience_outbox_relay_last_heartbeat_timestamp_seconds"
    with capture() as cap:
        assert await relay.run_once() == 0
        idle = cap.sample(heartbeat)
        async with AsyncSession(db.engine) as session, session.begin():
            await enqueue(session, db.outbox, destination="orders", payload=b"x")
        await relay.run_once()
        await relay.run_once()
        assert cap.sample(heartbeat) == idle
        assert await relay.run_once() == 0
    assert idle is not None
    assert cap.sample(heartbeat) > idle
    async with db.engine.connect() as conn:
        row = (await conn.execute(sa.select(db.outbox))).mappings().one()
    assert (row["status"], row["attempts"], row["last_error"]) == ("failed", 2, "ConnectionError")
    assert cap.sample("resilience_outbox_batch_size_count") == 2.0
    assert [line["event"] for line in cap.logs if line["log_level"] != "debug"] == [
        "telemetry.outbox.publish_failed",
        "telemetry.outbox.abandoned",
    ]


def test_backlog_collector_database_down_is_stale_and_bounded() -> None:
    """An unreachable database never blocks a scrape past the timeout: only the stale flag is
    exported until a first reading exists."""
    collector = OutboxBacklogCollector(
        "postgresql+psycopg://postgres@127.0.0.1:9/test", table="outbox", timeout=0.5, min_interval=0
    )
    registry = CollectorRegistry()
    registry.register(collector)
    started = time.monotonic()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for m in registry.collect() for s in m.samples}
    assert time.monotonic() - started < 1.0
    assert samples == {("resilience_outbox_backlog_stale", (("outbox_table", "outbox"),)): 1.0}
    collector.reading.wait_idle(10)


async def test_backlog_collector_slow_query_serves_cached_value(db: Db) -> None:
    """A locked outbox table makes the query slow: the scrape returns within the timeout with
    the cached reading and the stale flag, and recovers when the lock goes away."""
    async with AsyncSession(db.engine) as session, session.begin():
        await enqueue(session, db.outbox, destination="orders", payload=b"x")
    collector = OutboxBacklogCollector(PG_SYNC, table=db.outbox.name, timeout=0.3, min_interval=0)
    registry = CollectorRegistry()
    registry.register(collector)
    labels = {"outbox_table": db.outbox.name}
    assert registry.get_sample_value("resilience_outbox_rows", {**labels, "status": "pending"}) == 1.0
    assert registry.get_sample_value("resilience_outbox_backlog_stale", labels) == 0.0

    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        engine = sa.create_engine(PG_SYNC)
        with engine.begin() as conn:
            conn.execute(sa.text(f'LOCK TABLE "{db.outbox.name}" IN ACCESS EXCLUSIVE MODE'))
            locked.set()
            release.wait(10)
        engine.dispose()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(5)
        started = time.monotonic()
        stale = registry.get_sample_value("resilience_outbox_backlog_stale", labels)
        elapsed = time.monotonic() - started
        assert (stale, registry.get_sample_value("resilience_outbox_rows", {**labels, "status": "pending"})) == (
            1.0,
            1.0,
        )
        assert elapsed < 0.9  # three collect() calls above would each wait at most 0.3 s
    finally:
        release.set()
        holder.join()
    assert collector.reading.wait_idle(5)
    assert registry.get_sample_value("resilience_outbox_backlog_stale", labels) == 0.0
    collector.engine.dispose()


def test_dlq_collector_slow_and_failing_reader() -> None:
    """A slow broker read is cut at the timeout with the cached depth and stale=1; a failing
    read keeps the last value, flagged stale; ages are computed at scrape time."""
    state: dict[str, Any] = {"delay": 0.0, "fail": False}

    def read(queues: Any) -> dict[str, QueueStats]:
        time.sleep(state["delay"])
        if state["fail"]:
            raise ConnectionError
        return {"dlq": QueueStats(3, time.time() - 30)}

    collector = DeadLetterQueueCollector(["dlq", "missing"], read, timeout=0.2, min_interval=0)
    registry = CollectorRegistry()
    registry.register(collector)

    def snapshot() -> dict[tuple[str, str], float]:
        return {(s.name, s.labels["queue"]): round(s.value) for m in registry.collect() for s in m.samples}

    assert snapshot() == {
        ("resilience_dlq_depth", "dlq"): 3,
        ("resilience_dlq_oldest_age_seconds", "dlq"): 30,
        ("resilience_dlq_stats_stale", "dlq"): 0,
        ("resilience_dlq_stats_stale", "missing"): 0,
    }
    state["delay"] = 1.0
    started = time.monotonic()
    assert snapshot()[("resilience_dlq_stats_stale", "dlq")] == 1
    assert time.monotonic() - started < 0.5
    collector.reading.wait_idle(5)
    state.update(delay=0.0, fail=True)
    assert snapshot()[("resilience_dlq_depth", "dlq")] == 3
    assert snapshot()[("resilience_dlq_stats_stale", "dlq")] == 1


async def test_redrive_preserves_correlation_and_trace_and_counts() -> None:
    """Redrive moves the DLQ message back to the queue it died in with the same body, id,
    correlation ID and creation traceparent, broker headers dropped; a failure leaves it in
    the DLQ and is counted."""
    b = InMemoryBroker()
    b.declare_queue("work", dead_letter_queue="work.dlq")

    async def failing(message: Any) -> None:
        raise RuntimeError

    with capture() as cap:
        await b.publish("work", b"body", {"traceparent": TRACEPARENT, "x-correlation-id": "c-r"}, "m1", "c-r")
        await b.drain("work", instrument_consumer(failing, queue="work", max_attempts=1))
        b.available = False
        assert await redrive(b, b, "work.dlq") == RedriveReport(moved=0, failed=1)
        assert len(b.queues["work.dlq"]) == 1
        b.available = True
        assert await redrive(b, b, "work.dlq", tracer_provider=cap.tracer_provider) == RedriveReport(1, 0)
    (back,) = b.queues["work"]
    assert (back.body, back.message_id, back.correlation_id) == (b"body", "m1", "c-r")
    assert {k: v for k, v in back.headers.items() if k != "x-producer-traceparent"} == {
        "traceparent": TRACEPARENT,
        "x-correlation-id": "c-r",
        "x-redrive-count": 1,
    }
    assert {
        o: cap.sample("resilience_dlq_redrives_total", queue="work.dlq", outcome=o) for o in ("success", "failure")
    } == {"success": 1.0, "failure": 1.0}
    (span,) = cap.spans()
    assert (span.name, span.attributes["messaging.operation.name"]) == ("redrive work", "redrive")
    assert [format(link.context.trace_id, "032x") for link in span.links] == ["0af7651916cd43dd8448eb211c80319c"]


async def test_in_memory_stand_in_on_sqlite(tmp_path: Path) -> None:
    """The demo's path: SQLite outbox, reference relay, in-memory broker, consumer, DLQ
    collector; enqueue -> publish -> process with one correlation ID and exact counts."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}")
    metadata = sa.MetaData()
    outbox = outbox_table(metadata)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    b = InMemoryBroker()
    b.declare_queue("orders", dead_letter_queue="orders.dlq")
    seen: list[str | None] = []

    async def handler(message: Any) -> None:
        seen.append(telemetry.get_correlation_id())

    with capture() as cap:
        with telemetry.correlation.bound("demo-1"):
            async with AsyncSession(engine) as session, session.begin():
                assert context_headers()["x-correlation-id"] == "demo-1"
                await enqueue(session, outbox, destination="orders", payload={"id": 1})
        assert await OutboxRelay(engine, outbox, b).run_once() == 1
        await b.drain("orders", instrument_consumer(handler, queue="orders"))
        cap.registry.register(DeadLetterQueueCollector(["orders.dlq"], b.queue_stats, min_interval=0))
        assert cap.sample("resilience_dlq_depth", queue="orders.dlq") == 0.0
    await engine.dispose()
    assert seen == ["demo-1"]
    assert cap.sample("resilience_outbox_enqueued_total", messaging_destination_name="orders") == 1.0
    assert cap.sample("resilience_consumer_messages_total", queue="orders", outcome="success") == 1.0
    backlog = OutboxBacklogCollector(f"sqlite:///{tmp_path / 'demo.db'}", min_interval=0)
    assert backlog.read().pending == 0
    backlog.engine.dispose()
