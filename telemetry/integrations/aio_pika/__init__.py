"""aio-pika (RabbitMQ): the consumer wrapper, the confirming publisher and the dead-letter source.

Usage::

    from telemetry.integrations.aio_pika import instrument_consumer

    async def handle(message):            # raise DuplicateMessage to skip a known delivery
        ...
    await queue.consume(instrument_consumer(handle, queue="orders.created", max_attempts=3))

The wrapper runs each delivery in a ``process <queue>`` CONSUMER span linked to the creation
context and the producer span carried in the headers, with the message's correlation ID bound
(so every log line carries it). It settles the message itself: ack on success or on
:class:`DuplicateMessage`; ``reject(requeue=True)`` while attempts remain; ``reject(requeue=False)``
(the queue's dead-letter exchange takes it) once the attempt budget is spent or on a
non-retryable error. The attempt number comes from ``x-delivery-count`` (quorum queues) or,
on classic queues, from a bounded in-process count per message id.

Counting dead letters: this consumer counts its own rejections (``reason="rejected"``). A
message arriving whose newest ``x-death`` entry the broker wrote on its own (``expired``,
``maxlen``, ``delivery_limit``: a TTL retry queue, a length limit, a quorum delivery limit) is
counted once, on its first delivery, with that reason and queue. Death counts go to logs and
span attributes, never to labels.

The integration contract: a handler is a function, so it cannot be changed in place;
:func:`instrument_consumer` returns the instrumented handler (the same one when given it
again), :func:`uninstrument_consumer` turns it back into a plain pass-through to your handler
(so a consumer already registered with the broker records nothing more) and returns your
handler, and :func:`is_instrumented` tells which is which. Inside OpenTelemetry's
``suppress_instrumentation()`` the wrapper still settles messages the same way but records
nothing. Depth and age of the DLQs and redrive are in :mod:`telemetry.dlq`; what the headers
carry is read by :mod:`telemetry.messaging`. The consumer wrapper does not import aio-pika, so
the in-memory broker of :mod:`telemetry.testing.broker` can stand in for RabbitMQ.
"""

from __future__ import annotations

from telemetry.integrations.aio_pika.consumer import (
    DuplicateMessage,
    PermanentError,
    instrument_consumer,
    is_instrumented,
    uninstrument_consumer,
)
from telemetry.integrations.aio_pika.publisher import AioPikaDeadLetterSource, AioPikaPublisher

__all__ = [
    "AioPikaDeadLetterSource",
    "AioPikaPublisher",
    "DuplicateMessage",
    "PermanentError",
    "instrument_consumer",
    "is_instrumented",
    "uninstrument_consumer",
]
