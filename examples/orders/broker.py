"""The message broker behind the outbox: RabbitMQ when ``AMQP_URL`` is set, else the
package's in-memory stand-in. Either way the consumer is wrapped by the package (trace and
correlation restored, dead-lettering after three failed deliveries) and the DLQ is watched."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from telemetry.dlq import redrive, watch_dead_letter_queues
from telemetry.integrations.aio_pika import AioPikaDeadLetterSource, AioPikaPublisher, instrument_consumer
from telemetry.testing.broker import InMemoryBroker

if TYPE_CHECKING:
    from examples.orders.faults import Faults
    from examples.orders.settings import Settings

QUEUE = "orders.created"
DLQ = "orders.created.dlq"
Handler = Callable[[Any], Awaitable[None]]


class _FaultyPublisher:
    """Refuses to publish while the drill says the broker is down."""

    def __init__(self, inner: Any, faults: Faults) -> None:
        self.inner = inner
        self.faults = faults

    async def publish(
        self, destination: str, body: bytes, headers: Mapping[str, Any], message_id: str, correlation_id: str | None
    ) -> None:
        if self.faults.broker_down:
            msg = "broker unreachable (injected)"
            raise ConnectionError(msg)
        await self.inner.publish(destination, body, headers, message_id, correlation_id)


class Broker:
    """What the service needs from a broker: a publisher, a consume loop and a health check."""

    publisher: Any

    async def start(self, handler: Handler) -> None:
        raise NotImplementedError

    async def consume(self, stop: asyncio.Event) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        return None

    async def check(self) -> None:
        return None

    async def redrive(self) -> dict[str, int]:
        raise NotImplementedError


class MemoryBroker(Broker):
    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.broker = InMemoryBroker()
        self.broker.declare_queue(QUEUE, dead_letter_queue=DLQ)
        self.publisher = _FaultyPublisher(self.broker, faults)
        self.handler: Handler | None = None

    async def start(self, handler: Handler) -> None:
        self.handler = instrument_consumer(handler, queue=QUEUE, max_attempts=3)
        watch_dead_letter_queues([DLQ], read=self.broker.queue_stats, min_interval=0.5)

    async def consume(self, stop: asyncio.Event) -> None:
        assert self.handler is not None
        while not stop.is_set():
            if await self.broker.drain(QUEUE, self.handler) == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.1)

    async def check(self) -> None:
        if self.faults.broker_down:
            msg = "broker unreachable (injected)"
            raise ConnectionError(msg)

    async def redrive(self) -> dict[str, int]:
        report = await redrive(self.broker, self.publisher, DLQ)
        return {"moved": report.moved, "failed": report.failed}


class RabbitBroker(Broker):
    def __init__(self, url: str, faults: Faults) -> None:
        self.url = url
        self.faults = faults
        self.publisher = _FaultyPublisher(AioPikaPublisher(url), faults)
        self.connection: Any = None
        self.queue: Any = None
        self.handler: Handler | None = None

    async def start(self, handler: Handler) -> None:
        import aio_pika

        self.connection = await aio_pika.connect_robust(self.url)
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=20)
        await channel.declare_queue(DLQ, durable=True, arguments={"x-queue-type": "quorum"})
        self.queue = await channel.declare_queue(
            QUEUE,
            durable=True,
            arguments={"x-queue-type": "quorum", "x-dead-letter-exchange": "", "x-dead-letter-routing-key": DLQ},
        )
        self.handler = instrument_consumer(handler, queue=QUEUE, max_attempts=3)
        watch_dead_letter_queues([DLQ], url=self.url, min_interval=1.0)

    async def consume(self, stop: asyncio.Event) -> None:
        assert self.queue is not None
        assert self.handler is not None
        tag = await self.queue.consume(self.handler)
        await stop.wait()
        await self.queue.cancel(tag)

    async def stop(self) -> None:
        await self.publisher.inner.close()
        if self.connection is not None:
            await self.connection.close()

    async def redrive(self) -> dict[str, int]:
        channel = await self.connection.channel(publisher_confirms=True)
        try:
            report = await redrive(AioPikaDeadLetterSource(channel), self.publisher, DLQ)
        finally:
            await channel.close()
        return {"moved": report.moved, "failed": report.failed}

    async def check(self) -> None:
        if self.connection is None or self.connection.is_closed:
            msg = "no broker connection"
            raise ConnectionError(msg)


def make_broker(settings: Settings, faults: Faults) -> Broker:
    return RabbitBroker(settings.amqp_url, faults) if settings.amqp_url else MemoryBroker(faults)
