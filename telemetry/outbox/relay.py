"""A minimal REFERENCE relay: what the demo and the tests run.

It shows the instrumented path end to end and is kept deliberately small; a production
relay adds what your service needs (sharding, batching publishes, notify/listen wake-ups).

- :class:`OutboxRelay` claims due pending rows with ``FOR UPDATE SKIP LOCKED`` (several relays
  can run side by side), publishes each through :func:`~telemetry.outbox.publish_instrumented`
  and updates the row in the same transaction: at-least-once delivery, so consumers must be
  idempotent. Each poll records :class:`~telemetry.events.OutboxPolled` (batch size, heartbeat).
- Any :class:`telemetry.messaging.Publisher` carries the rows: RabbitMQ's is
  :class:`telemetry.integrations.aio_pika.AioPikaPublisher`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from telemetry.labels import error_type
from telemetry.outbox.instrument import OutboxMessage, exponential_backoff, publish_instrumented
from telemetry.outbox.table import FAILED, PENDING, PUBLISHED
from telemetry.recorder import record

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import Table
    from sqlalchemy.ext.asyncio import AsyncEngine

    from telemetry.messaging import Publisher

__all__ = ["OutboxRelay"]

_log = logging.getLogger("telemetry.outbox")


class OutboxRelay:
    """Polls the reference outbox ``table`` and publishes due rows (reference implementation).

    Args:
        engine: an ``AsyncEngine`` (PostgreSQL for ``SKIP LOCKED``; SQLite works for a single relay).
        table: the table from :func:`~telemetry.outbox.outbox_table`.
        publisher: any :class:`~telemetry.messaging.Publisher`.
        batch_size, poll_interval: rows claimed per poll; pause between polls that found nothing.
        max_attempts: failed tries before a row is marked ``failed``.
        backoff: failures -> seconds before the next try.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        table: Table,
        publisher: Publisher,
        *,
        batch_size: int = 100,
        poll_interval: float = 0.5,
        max_attempts: int = 10,
        backoff: Callable[[int], float] | None = None,
        system: str = "rabbitmq",
        tracer_provider: Any = None,
    ) -> None:
        self.engine = engine
        self.table = table
        self.publisher = publisher
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self.backoff = backoff or exponential_backoff()
        self.system = system
        self.tracer_provider = tracer_provider

    async def run_once(self) -> int:
        """Claim due rows, publish them, update them; returns how many were published."""
        import sqlalchemy as sa

        from telemetry.events.outbox import OutboxPolled

        t = self.table
        now = datetime.now(timezone.utc)
        claim = (
            sa.select(t)
            .where(t.c.status == PENDING, t.c.available_at <= now)
            .order_by(t.c.created_at)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)
        )
        published = 0
        async with self.engine.begin() as conn:
            rows = (await conn.execute(claim)).mappings().all()
            for row in rows:
                message = OutboxMessage(
                    message_id=row["message_id"],
                    destination=row["destination"],
                    payload=row["payload"],
                    headers=row["headers"] or {},
                    created_at=row["created_at"],
                    attempts=row["attempts"],
                )
                result = await publish_instrumented(
                    self.publisher,
                    message,
                    max_attempts=self.max_attempts,
                    backoff=self.backoff,
                    system=self.system,
                    tracer_provider=self.tracer_provider,
                )
                values: dict[str, Any] = {"attempts": result.attempt}
                if result.outcome == "published":
                    published += 1
                    values.update(status=PUBLISHED, published_at=datetime.now(timezone.utc))
                else:
                    values["last_error"] = error_type(result.error)
                    if result.outcome == "failed":
                        values["status"] = FAILED
                    else:
                        values["available_at"] = datetime.now(timezone.utc) + timedelta(seconds=result.retry_in)
                await conn.execute(sa.update(t).where(t.c.message_id == message.message_id).values(**values))
                if result.outcome != "published":
                    # The broker is likely down: keep the rest for the next poll, in order,
                    # instead of spending one attempt (and one connect timeout) on each.
                    break
        record(OutboxPolled(claimed=len(rows), published=published, at=time.time()))
        return published

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Poll until ``stop`` is set; a failed poll (database down) is logged and retried."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                busy = await self.run_once() > 0
            except Exception as exc:
                _log.warning("outbox relay poll failed with %s", error_type(exc))
                busy = False
            if not busy:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_interval)
