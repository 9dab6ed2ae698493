"""Dead-letter queues: depth and oldest-message age at scrape time, and redrive.

Usage::

    from telemetry.dlq import redrive, watch_dead_letter_queues

    watch_dead_letter_queues(["orders.created.dlq"], url="amqp://...")   # gauges at scrape time
    report = await redrive(source, publisher, "orders.created.dlq")       # back where they died

Counting messages as they die is the consumer's job
(:func:`telemetry.integrations.aio_pika.instrument_consumer`); the headers they carry are read
by :mod:`telemetry.messaging`. Importing this package imports no broker library.
"""

from __future__ import annotations

from telemetry.dlq.rabbitmq import rabbitmq_queue_stats
from telemetry.dlq.redrive import DeadLetterSource, RedriveReport, redrive
from telemetry.dlq.stats import DeadLetterQueueCollector, QueueStats, QueueStatsReader
from telemetry.dlq.watch import unwatch_dead_letter_queues, watch_dead_letter_queues

__all__ = [
    "DeadLetterQueueCollector",
    "DeadLetterSource",
    "QueueStats",
    "QueueStatsReader",
    "RedriveReport",
    "rabbitmq_queue_stats",
    "redrive",
    "unwatch_dead_letter_queues",
    "watch_dead_letter_queues",
]
