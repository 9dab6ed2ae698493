"""The aio-pika integration follows the one integration contract: instrument -> recorded,
twice -> no duplicate, uninstrument -> nothing (idempotent), suppression -> nothing recorded
with settlement unchanged; a missing aio-pika gives the install hint."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation

from telemetry.dlq import rabbitmq_queue_stats
from telemetry.integrations.aio_pika import (
    AioPikaPublisher,
    instrument_consumer,
    is_instrumented,
    uninstrument_consumer,
)
from telemetry.testing import capture
from telemetry.testing.broker import InMemoryBroker

Q = "h2.orders"
Handler = Callable[[Any], Awaitable[None]]


def once(handler: Handler, cap: Any) -> Handler:
    return instrument_consumer(handler, queue=Q, tracer_provider=cap.tracer_provider)


def twice(handler: Handler, cap: Any) -> Handler:
    first = once(handler, cap)
    again = instrument_consumer(first, queue=Q)
    assert again is first
    return again


def uninstrumented(handler: Handler, cap: Any) -> Handler:
    wrapped = once(handler, cap)
    assert uninstrument_consumer(wrapped) is handler
    assert uninstrument_consumer(wrapped) is handler  # idempotent
    return wrapped  # still registered with the broker: it must now pass straight through


CASES = {
    # name: (how the handler is prepared, suppressed, processed count, spans, settled by us, is_instrumented)
    "instrument": (once, False, 1.0, 1, True, True),
    "instrument twice": (twice, False, 1.0, 1, True, True),
    "uninstrument": (uninstrumented, False, None, 0, False, False),
    "suppressed": (once, True, None, 0, True, True),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_consumer_contract(case: str) -> None:
    """One delivery through the handler prepared as the case says: what is counted, which spans
    exist, whether the wrapper settled (acked) the message, and what is_instrumented reports."""
    prepare, suppressed, processed, spans, settled, instrumented = CASES[case]
    broker = InMemoryBroker()
    broker.declare_queue(Q, dead_letter_queue=f"{Q}.dlq")
    handled: list[bytes] = []

    async def handler(message: Any) -> None:
        handled.append(message.body)

    with capture() as cap:
        consumer = prepare(handler, cap)
        await broker.publish(Q, b"{}", {}, "m1", None)
        delivery = await broker.get(Q)
        assert delivery is not None
        if suppressed:
            with suppress_instrumentation():
                await consumer(delivery)
        else:
            await consumer(delivery)
    assert handled == [b"{}"]
    assert cap.sample("resilience_consumer_messages_total", queue=Q, outcome="success") == processed
    assert len(cap.spans()) == spans
    assert delivery.settled is settled
    assert is_instrumented(consumer) is instrumented
    assert is_instrumented(handler) is False


def test_reinstrumenting_an_uninstrumented_wrapper_records_again() -> None:
    """Undo then instrument again: the same wrapper is instrumented once more (symmetric)."""

    async def handler(message: Any) -> None:
        return None

    wrapped = instrument_consumer(handler, queue=Q)
    uninstrument_consumer(wrapped)
    assert instrument_consumer(wrapped, queue=Q) is wrapped
    assert is_instrumented(wrapped) is True


async def test_missing_aio_pika_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without aio-pika, the publisher and the RabbitMQ DLQ reader raise ImportError naming
    the extra, never a bare ModuleNotFoundError."""
    monkeypatch.setitem(sys.modules, "aio_pika", None)
    with pytest.raises(ImportError, match=r"pip install 'resilience-telemetry\[aio-pika\]'") as publish:
        await AioPikaPublisher("amqp://guest:guest@127.0.0.1:1/").publish("q", b"", {}, "m1", None)
    assert type(publish.value) is ImportError
    with pytest.raises(ImportError, match=r"pip install 'resilience-telemetry\[aio-pika\]'") as read:
        await asyncio.to_thread(rabbitmq_queue_stats("amqp://guest:guest@127.0.0.1:1/"), ["q"])
    assert type(read.value) is ImportError
