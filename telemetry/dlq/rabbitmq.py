"""Reading RabbitMQ dead-letter queues' depth and head-message age (for the DLQ collector).

It lives with the DLQ stats rather than with the aio-pika integration because it is a reader
for :class:`~telemetry.dlq.DeadLetterQueueCollector` (``watch_dead_letter_queues(url=...)``),
not instrumentation of the application's own aio-pika objects; aio-pika is imported only
when a read runs.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from telemetry.dlq.stats import QueueStats
from telemetry.messaging import epoch, parse_x_death

if TYPE_CHECKING:
    from collections.abc import Sequence

    from telemetry.dlq.stats import QueueStatsReader

__all__ = ["rabbitmq_queue_stats"]

_log = logging.getLogger("telemetry.consumer")


def rabbitmq_queue_stats(url: str, *, peek: bool = True, timeout: float = 2.0) -> QueueStatsReader:
    """A blocking reader for :class:`~telemetry.dlq.DeadLetterQueueCollector`: one short
    connection per read, a passive declare per queue (depth), and with ``peek`` a ``basic.get``
    + requeue of the head message for its age (newest ``x-death`` time, else its timestamp).
    Peeking marks the head message redelivered; turn it off for quorum DLQs that have a
    delivery limit."""

    async def read_async(queues: Sequence[str]) -> dict[str, QueueStats]:
        try:
            import aio_pika
        except ImportError as exc:
            msg = "reading RabbitMQ queues needs aio-pika: pip install 'resilience-telemetry[aio-pika]'"
            raise ImportError(msg) from exc

        out: dict[str, QueueStats] = {}
        connection = await aio_pika.connect(url, timeout=timeout)
        try:
            for name in queues:
                channel = await connection.channel()
                try:
                    queue = await channel.declare_queue(name, passive=True)
                    depth = int(queue.declaration_result.message_count or 0)
                    oldest = None
                    if peek and depth:
                        head = await queue.get(no_ack=False, fail=False, timeout=timeout)
                        if head is not None:
                            deaths, _ = parse_x_death(head.headers)
                            oldest = deaths[0].time if deaths and deaths[0].time else epoch(head.timestamp)
                            await head.reject(requeue=True)
                    out[name] = QueueStats(depth, oldest)
                except aio_pika.exceptions.ChannelClosed:
                    _log.debug("dead-letter queue %s not found", name)
                finally:
                    if not channel.is_closed:
                        await channel.close()
        finally:
            await connection.close()
        return out

    def read(queues: Sequence[str]) -> dict[str, QueueStats]:
        return asyncio.run(read_async(queues))

    return read
