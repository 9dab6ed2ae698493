"""An in-process broker stand-in for demos and tests when RabbitMQ is not configured.

It is a test double, so it lives in :mod:`telemetry.testing`, not in a runtime package. It
implements :class:`~telemetry.messaging.Publisher` (for the relay and redrive), the
:class:`~telemetry.dlq.DeadLetterSource` protocol (for redrive) and a ``queue_stats`` reader
(for :func:`~telemetry.dlq.watch_dead_letter_queues`), and it dead-letters the way RabbitMQ does:
``reject(requeue=False)`` moves a message to the queue's dead-letter queue with an ``x-death``
entry (newest first, one per queue and reason, counted), and redeliveries carry
``x-delivery-count`` as quorum queues do. Single event loop; not a message broker.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telemetry.dlq.stats import QueueStats
from telemetry.messaging import parse_x_death, split_destination

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

__all__ = ["InMemoryBroker", "MemoryDelivery"]


@dataclass
class _Stored:
    body: bytes
    headers: dict[str, Any]
    message_id: str | None
    correlation_id: str | None
    routing: tuple[str, str]
    at: float = field(default_factory=time.time)
    deliveries: int = 0


@dataclass
class MemoryDelivery:
    """One delivered message; settle it exactly once with ``ack`` or ``reject``."""

    broker: InMemoryBroker
    queue: str
    stored: _Stored
    settled: bool = False

    @property
    def body(self) -> bytes:
        return self.stored.body

    @property
    def headers(self) -> dict[str, Any]:
        return self.stored.headers

    @property
    def message_id(self) -> str | None:
        return self.stored.message_id

    @property
    def correlation_id(self) -> str | None:
        return self.stored.correlation_id

    @property
    def redelivered(self) -> bool:
        return self.stored.deliveries > 1

    def _settle(self) -> None:
        if self.settled:
            msg = "message already settled"
            raise RuntimeError(msg)
        self.settled = True
        self.broker.unacked.discard(id(self))

    async def ack(self) -> None:
        self._settle()

    async def reject(self, requeue: bool = False) -> None:
        self._settle()
        self.broker.rejected(self.queue, self.stored, requeue=requeue)


class InMemoryBroker:
    """Queues, bindings (``exchange:routing_key`` -> queues) and dead-letter queues in memory."""

    def __init__(self) -> None:
        self.queues: dict[str, deque[_Stored]] = {}
        self.bindings: dict[str, list[str]] = {}
        self.dead_letter: dict[str, str] = {}
        self.unacked: set[int] = set()
        self.available = True  # set False to simulate an unreachable broker

    def declare_queue(self, name: str, *, dead_letter_queue: str | None = None) -> None:
        self.queues.setdefault(name, deque())
        if dead_letter_queue is not None:
            self.queues.setdefault(dead_letter_queue, deque())
            self.dead_letter[name] = dead_letter_queue

    def bind(self, destination: str, queue: str) -> None:
        self.declare_queue(queue)
        self.bindings.setdefault(destination, []).append(queue)

    async def publish(
        self,
        destination: str,
        body: bytes,
        headers: Mapping[str, Any],
        message_id: str,
        correlation_id: str | None,
    ) -> None:
        if not self.available:
            msg = "in-memory broker is unavailable"
            raise ConnectionError(msg)
        exchange, routing_key = split_destination(destination)
        targets = self.bindings.get(destination) or (
            [routing_key] if not exchange and routing_key in self.queues else []
        )
        if not targets:
            msg = f"unroutable: {destination}"
            raise LookupError(msg)
        for queue in targets:
            self.queues[queue].append(
                _Stored(bytes(body), dict(headers), message_id or None, correlation_id, (exchange, routing_key))
            )

    async def get(self, queue: str) -> MemoryDelivery | None:
        pending = self.queues.get(queue)
        if not pending:
            return None
        stored = pending.popleft()
        if stored.deliveries:
            stored.headers["x-delivery-count"] = stored.deliveries
        stored.deliveries += 1
        delivery = MemoryDelivery(self, queue, stored)
        self.unacked.add(id(delivery))
        return delivery

    def rejected(self, queue: str, stored: _Stored, *, requeue: bool) -> None:
        """Requeue ``stored`` at the head of ``queue``, or dead-letter it as RabbitMQ does."""
        if requeue:
            self.queues[queue].appendleft(stored)
            return
        dlq = self.dead_letter.get(queue)
        if dlq is None:
            return  # dropped, as RabbitMQ drops a rejected message without a DLX
        deaths, _ = parse_x_death(stored.headers)
        previous = next((d for d in deaths if d.queue == queue and d.reason == "rejected"), None)
        entry = {
            "queue": queue,
            "reason": "rejected",
            "count": (previous.count if previous else 0) + 1,
            "exchange": stored.routing[0],
            "routing-keys": [stored.routing[1]],
            "time": int(time.time()),
        }
        rest = [
            {"queue": d.queue, "reason": d.reason, "count": d.count, "exchange": d.exchange, "time": d.time}
            for d in deaths
            if d is not previous
        ]
        headers = {k: v for k, v in stored.headers.items() if k != "x-delivery-count"}
        headers["x-death"] = [entry, *rest]
        self.queues[dlq].append(
            _Stored(stored.body, headers, stored.message_id, stored.correlation_id, ("", dlq), at=time.time())
        )

    async def drain(self, queue: str, handler: Callable[[MemoryDelivery], Awaitable[Any]]) -> int:
        """Deliver every message in ``queue`` (redeliveries included) to ``handler``; returns
        how many deliveries were made."""
        delivered = 0
        while (delivery := await self.get(queue)) is not None:
            delivered += 1
            await handler(delivery)
        return delivered

    def queue_stats(self, queues: Sequence[str]) -> dict[str, QueueStats]:
        """A reader for :class:`~telemetry.dlq.DeadLetterQueueCollector`."""
        out: dict[str, QueueStats] = {}
        for name in queues:
            pending = self.queues.get(name)
            if pending is None:
                continue
            head = pending[0] if pending else None
            deaths = parse_x_death(head.headers)[0] if head else []
            out[name] = QueueStats(
                len(pending), (deaths[0].time if deaths and deaths[0].time else head.at) if head else None
            )
        return out
