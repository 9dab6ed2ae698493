"""Transactional outbox telemetry: enqueue (counted after commit), relay instrumentation,
backlog at scrape time, plus a reference table, relay and RabbitMQ publisher.

Usage::

    from telemetry.outbox import enqueue, outbox_table, watch_outbox

    outbox = outbox_table(Base.metadata)                       # or your own table
    async with session.begin():
        session.add(order)
        await enqueue(session, outbox, destination="orders:order.created", payload={"id": order.id})
    watch_outbox("postgresql+psycopg://.../orders")            # backlog gauges at scrape time

A relay of your own calls :func:`publish_instrumented` per row; :class:`OutboxRelay` is a
small reference relay, publishing through any :class:`telemetry.messaging.Publisher`
(RabbitMQ's is :class:`telemetry.integrations.aio_pika.AioPikaPublisher`). Importing this
package imports no SQLAlchemy and no aio-pika.
"""

from __future__ import annotations

from telemetry.outbox.backlog import BacklogReading, OutboxBacklogCollector, unwatch_outbox, watch_outbox
from telemetry.outbox.enqueue import context_headers, count_after_commit, encode_payload, enqueue
from telemetry.outbox.instrument import OutboxMessage, PublishResult, exponential_backoff, publish_instrumented
from telemetry.outbox.relay import OutboxRelay
from telemetry.outbox.table import FAILED, PENDING, PUBLISHED, outbox_table

__all__ = [
    "FAILED",
    "PENDING",
    "PUBLISHED",
    "BacklogReading",
    "OutboxBacklogCollector",
    "OutboxMessage",
    "OutboxRelay",
    "PublishResult",
    "context_headers",
    "count_after_commit",
    "encode_payload",
    "enqueue",
    "exponential_backoff",
    "outbox_table",
    "publish_instrumented",
    "unwatch_outbox",
    "watch_outbox",
]
