"""The consumer wrapper: settlement, attempt budget, duplicates, bad headers, idempotent
instrumentation, a raising sink, concurrency; run on the in-memory broker stand-in."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from outbox_support import RaisingSink

from telemetry.correlation import get_correlation_id
from telemetry.integrations.aio_pika import DuplicateMessage, PermanentError, instrument_consumer, uninstrument_consumer
from telemetry.messaging import parse_x_death
from telemetry.testing import capture
from telemetry.testing.broker import InMemoryBroker

Q, DLQ = "orders.created", "orders.created.dlq"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def broker() -> InMemoryBroker:
    found = InMemoryBroker()
    found.declare_queue(Q, dead_letter_queue=DLQ)
    return found


async def put(
    b: InMemoryBroker, headers: dict[str, Any] | None = None, message_id: str = "m1", cid: str | None = None
) -> None:
    await b.publish(Q, b"{}", headers or {}, message_id, cid)


def consumed(cap: Any) -> dict[str, float | None]:
    return {
        o: cap.sample("resilience_consumer_messages_total", queue=Q, outcome=o)
        for o in ("success", "retry", "dead_lettered", "duplicate")
    }


async def test_success_acks_once_with_links_and_correlation() -> None:
    """A processed message is acknowledged, counted as success, handled in a CONSUMER span
    linked to the creation context, with the message's correlation ID bound."""
    b = broker()
    seen: list[str | None] = []

    async def handler(message: Any) -> str:
        seen.append(get_correlation_id())
        return "done"

    with capture() as cap:
        await put(b, {"traceparent": TRACEPARENT, "x-correlation-id": "c-1"})
        wrapped = instrument_consumer(handler, queue=Q, tracer_provider=cap.tracer_provider)
        assert await b.drain(Q, wrapped) == 1
    assert seen == ["c-1"]
    assert consumed(cap) == {"success": 1.0, "retry": None, "dead_lettered": None, "duplicate": None}
    (span,) = cap.spans()
    assert (span.name, span.kind) == (f"process {Q}", SpanKind.CONSUMER)
    assert [(format(link.context.trace_id, "032x"), dict(link.attributes)) for link in span.links] == [
        ("0af7651916cd43dd8448eb211c80319c", {"resilience.link.kind": "creation"})
    ]
    assert dict(span.attributes) == {
        "messaging.system": "rabbitmq",
        "messaging.destination.name": Q,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "resilience.consumer.attempt": 1,
        "messaging.message.id": "m1",
        "messaging.message.conversation_id": "c-1",
    }
    assert b.queues[Q] == b.queues[DLQ] == type(b.queues[Q])()
    assert not b.unacked


async def test_attempt_budget_then_dead_letter_with_x_death() -> None:
    """A failing handler is retried until max_attempts, then rejected into the DLQ with an
    x-death entry; retries and the dead letter are counted with the error type."""
    b = broker()

    async def handler(message: Any) -> None:
        raise TimeoutError

    with capture() as cap:
        await put(b, cid="c-2")
        assert await b.drain(Q, instrument_consumer(handler, queue=Q, max_attempts=3)) == 3
    assert consumed(cap) == {"success": None, "retry": 2.0, "dead_lettered": 1.0, "duplicate": None}
    assert cap.sample("resilience_dlq_dead_lettered_total", queue=Q, reason="rejected", error_type="TimeoutError") == 1
    (dead,) = b.queues[DLQ]
    deaths, malformed = parse_x_death(dead.headers)
    assert (malformed, [(d.queue, d.reason, d.count) for d in deaths]) == (False, [(Q, "rejected", 1)])
    dead_logs = [line for line in cap.logs if line["event"] == "telemetry.dlq.dead_lettered"]
    assert dead_logs == [
        {
            "event": "telemetry.dlq.dead_lettered",
            "log_level": "error",
            "messaging.destination.name": Q,
            "messaging.message.id": "m1",
            "resilience.dlq.reason": "rejected",
            "resilience.dlq.by": "consumer",
            "resilience.dlq.deaths": 0,
            "resilience.consumer.attempt": 3,
            "error.type": "TimeoutError",
        }
    ]


@pytest.mark.parametrize("error", [PermanentError("bad payload"), ValueError("bad")])
async def test_non_retryable_errors_dead_letter_at_once(error: Exception) -> None:
    """PermanentError and configured non-retryable types skip the retries."""
    b = broker()

    async def handler(message: Any) -> None:
        raise error

    with capture() as cap:
        await put(b)
        await b.drain(Q, instrument_consumer(handler, queue=Q, max_attempts=5, non_retryable=(ValueError,)))
    assert consumed(cap) == {"success": None, "retry": None, "dead_lettered": 1.0, "duplicate": None}
    assert len(b.queues[DLQ]) == 1


async def test_duplicate_skipped_is_acked_and_counted() -> None:
    """A handler raising DuplicateMessage (natural key seen before) is acked and counted."""
    b = broker()
    seen: set[str] = set()

    async def handler(message: Any) -> None:
        if message.message_id in seen:
            raise DuplicateMessage
        seen.add(message.message_id)

    with capture() as cap:
        await put(b)
        await put(b)
        await b.drain(Q, instrument_consumer(handler, queue=Q))
    assert consumed(cap) == {"success": 1.0, "retry": None, "dead_lettered": None, "duplicate": 1.0}
    assert [(line["event"], line["log_level"]) for line in cap.logs] == [
        ("telemetry.consumer.processed", "debug"),
        ("telemetry.consumer.duplicate_skipped", "info"),
    ]


BAD_HEADERS: list[tuple[str, dict[str, Any], str | None, list[str]]] = [
    ("garbage traceparent", {"traceparent": "00-zz-yy-01"}, None, ["traceparent"]),
    ("huge traceparent", {"traceparent": "0" * 100_000}, None, ["traceparent"]),
    ("non-utf8 correlation id", {"x-correlation-id": b"\xff\xfe"}, None, ["correlation_id"]),
    ("invalid correlation id", {"x-correlation-id": "a b\r\nc"}, None, ["correlation_id"]),
    ("invalid AMQP correlation id", {}, "<script>", ["correlation_id"]),
    ("x-death not a list", {"x-death": "rejected"}, None, ["x-death"]),
    ("x-death bad entries", {"x-death": [1, {"queue": b"\xff", "reason": "melted", "count": 1}]}, None, ["x-death"]),
    ("x-delivery-count garbage", {"x-delivery-count": "three"}, None, ["x-delivery-count"]),
    ("huge x-death", {"x-death": [{"queue": "q", "reason": "rejected", "count": 1}] * 10_000}, None, []),
    ("non-utf8 header values", {"traceparent": b"\xff" * 55, "other": b"\xff"}, None, ["traceparent"]),
]


@pytest.mark.parametrize(("case", "headers", "amqp_cid", "problems"), BAD_HEADERS, ids=[c[0] for c in BAD_HEADERS])
async def test_bad_headers_never_crash_the_consumer(
    case: str, headers: dict[str, Any], amqp_cid: str | None, problems: list[str]
) -> None:
    """Malformed headers are ignored or replaced and counted; the message is still processed
    with a fresh, valid correlation ID."""
    b = broker()
    seen: list[str | None] = []

    async def handler(message: Any) -> None:
        seen.append(get_correlation_id())

    with capture() as cap:
        await put(b, headers, cid=amqp_cid)
        await b.drain(Q, instrument_consumer(handler, queue=Q))
    assert consumed(cap)["success"] == 1.0
    assert len(seen) == 1
    assert seen[0] is not None
    assert seen[0] not in ("<script>", "a b\r\nc")
    counted = {
        s["header"]: cap.sample("resilience_consumer_invalid_headers_total", **s)
        for s in cap.series("resilience_consumer_invalid_headers_total")
    }
    assert counted == dict.fromkeys(problems, 1.0)
    assert all(link.context.is_valid for span in cap.spans() for link in span.links)


async def test_broker_dead_letter_reason_counted_once_on_first_delivery() -> None:
    """A message arriving with an x-death the broker wrote (a TTL retry queue: expired) is
    counted once with that reason and queue; a redelivery does not count it again."""
    b = broker()
    calls = 0

    async def handler(message: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError

    death = {"queue": "orders.retry", "reason": "expired", "count": 2, "exchange": "", "time": 1_700_000_000}
    with capture() as cap:
        await put(b, {"x-death": [death]})
        await b.drain(Q, instrument_consumer(handler, queue=Q))
    assert cap.sample("resilience_dlq_dead_lettered_total", queue="orders.retry", reason="expired", error_type="") == 1
    assert consumed(cap) == {"success": 1.0, "retry": 1.0, "dead_lettered": None, "duplicate": None}
    broker_line = next(line for line in cap.logs if line["event"] == "telemetry.dlq.dead_lettered")
    assert (broker_line["resilience.dlq.by"], broker_line["resilience.dlq.deaths"], broker_line["log_level"]) == (
        "broker",
        2,
        "error",
    )


async def test_instrument_twice_and_uninstrument() -> None:
    """Wrapping twice counts once; the unwrapped handler records nothing."""
    b = broker()

    async def handler(message: Any) -> None:
        return None

    with capture() as cap:
        once = instrument_consumer(handler, queue=Q, tracer_provider=cap.tracer_provider)
        assert instrument_consumer(once, queue=Q) is once
        assert uninstrument_consumer(once) is handler
        await put(b)
        await b.drain(Q, instrument_consumer(once, queue=Q))
        await put(b, message_id="m2")
        delivery = await b.get(Q)
        await uninstrument_consumer(once)(delivery)
        await delivery.ack()
    assert consumed(cap)["success"] == 1.0
    assert len(cap.spans()) == 1


async def test_raising_sink_does_not_change_settlement() -> None:
    """A telemetry sink that raises changes nothing: same acks, same dead letters."""
    b = broker()

    async def handler(message: Any) -> None:
        if message.message_id == "bad":
            raise RuntimeError

    with capture(extra_sinks=[RaisingSink()]) as cap:
        await put(b, message_id="good")
        await put(b, message_id="bad")
        await b.drain(Q, instrument_consumer(handler, queue=Q, max_attempts=1))
    assert [m.message_id for m in b.queues[DLQ]] == ["bad"]
    assert not b.queues[Q]
    assert cap.sample("resilience_telemetry_sink_errors_total", sink="log") == 2.0


async def test_concurrent_deliveries_keep_their_own_correlation_ids() -> None:
    """Fifty deliveries handled concurrently each see their own correlation ID and span;
    counts are exact."""
    b = broker()
    seen: dict[str, str | None] = {}

    async def handler(message: Any) -> None:
        await asyncio.sleep(0.001)
        seen[message.message_id] = get_correlation_id()
        assert trace.get_current_span().is_recording()

    with capture() as cap:
        for i in range(50):
            await put(b, {"x-correlation-id": f"cid-{i}"}, message_id=f"m{i}")
        wrapped = instrument_consumer(handler, queue=Q, tracer_provider=cap.tracer_provider)
        deliveries = [await b.get(Q) for _ in range(50)]
        await asyncio.gather(*(wrapped(d) for d in deliveries))
    assert seen == {f"m{i}": f"cid-{i}" for i in range(50)}
    assert consumed(cap)["success"] == 50.0
    assert len({span.context.span_id for span in cap.spans()}) == 50
