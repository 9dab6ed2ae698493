"""The aio-pika publisher (outbox relay, redrive) and dead-letter source (redrive)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from telemetry.integrations.contract import require
from telemetry.messaging import split_destination

if TYPE_CHECKING:
    from collections.abc import Mapping

    from telemetry.messaging import Delivery

__all__ = ["AioPikaDeadLetterSource", "AioPikaPublisher"]

_log = logging.getLogger("telemetry.outbox")


class AioPikaPublisher:
    """A :class:`~telemetry.messaging.Publisher` for RabbitMQ (reference), for the outbox relay
    and redrive. Publishes with publisher confirms and ``mandatory`` (an unroutable message is
    an error, not a silent drop); one connection and one confirming channel, opened lazily and
    dropped on any failure, so the next call reconnects."""

    def __init__(self, url: str, *, connect_timeout: float = 5.0, confirm_timeout: float = 10.0) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self.confirm_timeout = confirm_timeout
        self._connection: Any = None
        self._channel: Any = None
        self._lock = asyncio.Lock()

    async def _ready_channel(self) -> Any:
        aio_pika = require("aio_pika", "aio-pika", what="the RabbitMQ publisher")
        async with self._lock:
            if self._channel is None or self._channel.is_closed:
                await self.close()
                self._connection = await aio_pika.connect(self.url, timeout=self.connect_timeout)
                self._channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
            return self._channel

    async def publish(
        self,
        destination: str,
        body: bytes,
        headers: Mapping[str, Any],
        message_id: str,
        correlation_id: str | None,
    ) -> None:
        try:
            channel = await self._ready_channel()
            import aio_pika

            exchange_name, routing_key = split_destination(destination)
            exchange = (
                channel.default_exchange
                if not exchange_name
                else await channel.get_exchange(exchange_name, ensure=False)
            )
            message = aio_pika.Message(
                body,
                headers=dict(headers),
                message_id=message_id,
                correlation_id=correlation_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                timestamp=datetime.now(timezone.utc),
            )
            await exchange.publish(message, routing_key, mandatory=True, timeout=self.confirm_timeout)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:
                _log.debug("closing the publisher connection failed", exc_info=True)


class AioPikaDeadLetterSource:
    """A :class:`~telemetry.dlq.DeadLetterSource` on an aio-pika channel, for redrive."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel

    async def get(self, queue: str) -> Delivery | None:
        found = await self.channel.get_queue(queue, ensure=False)
        message: Delivery | None = await found.get(no_ack=False, fail=False)
        return message
