"""Consumers and dead-letter queues (aio-pika / RabbitMQ, or any broker with the same shape).

Usage::

    from telemetry.integrations.aio_pika import instrument_consumer, watch_dead_letter_queues

    async def handle(message):            # raise DuplicateMessage to skip a known delivery
        ...
    await queue.consume(instrument_consumer(handle, queue="orders.created", max_attempts=3))
    watch_dead_letter_queues(["orders.created.dlq"], url="amqp://...")

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

Nothing here imports aio-pika except :func:`rabbitmq_queue_stats` and the dead-letter source,
so :mod:`telemetry.outbox.memory` can stand in for RabbitMQ.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final, Protocol

from opentelemetry.trace import Link, SpanKind

from telemetry import catalog
from telemetry.correlation import HEADER, bound, extract, is_valid
from telemetry.labels import error_type
from telemetry.metrics import family
from telemetry.outbox._cache import CachedReading
from telemetry.outbox.instrument import Publisher, links_from, mark_failed, messaging_span, stamp_producer
from telemetry.recorder import record

if TYPE_CHECKING:
    from collections.abc import Iterator

    from telemetry.bootstrap import Telemetry

__all__ = [
    "AioPikaDeadLetterSource",
    "DeadLetterQueueCollector",
    "DeadLetterSource",
    "Death",
    "Delivery",
    "DuplicateMessage",
    "PermanentError",
    "QueueStats",
    "RedriveReport",
    "delivery_count",
    "instrument_consumer",
    "parse_x_death",
    "queue_destination",
    "rabbitmq_queue_stats",
    "redrive",
    "uninstrument_consumer",
    "watch_dead_letter_queues",
]

_log = logging.getLogger("telemetry.consumer")
MAX_DEATHS: Final = 64
_BROKER_HEADERS: Final = ("x-death", "x-delivery-count")
_BROKER_PREFIXES: Final = ("x-first-death-", "x-last-death-")
_MARK: Final = "__telemetry_consumer__"


class Delivery(Protocol):
    """What the consumer wrapper needs from a delivered message (aio-pika's ``IncomingMessage``
    has it; so does :class:`telemetry.outbox.memory.MemoryDelivery`)."""

    @property
    def body(self) -> bytes: ...
    @property
    def headers(self) -> Any: ...
    @property
    def message_id(self) -> str | None: ...
    @property
    def correlation_id(self) -> str | None: ...
    async def ack(self) -> None: ...
    async def reject(self, requeue: bool = False) -> None: ...


class DuplicateMessage(Exception):  # noqa: N818 - a signal raised by handlers, not an error
    """Raise from a handler when the delivery was already processed (natural key): it is
    acknowledged and counted as ``duplicate``."""


class PermanentError(Exception):
    """Raise (or subclass) for errors no retry can fix: the message is dead-lettered at once."""


@dataclass(frozen=True, slots=True)
class Death:
    """One ``x-death`` entry (newest first in the header)."""

    queue: str
    reason: str
    count: int
    exchange: str = ""
    routing_keys: tuple[str, ...] = ()
    time: float | None = None


def _text(value: object, limit: int = 255) -> str:
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", errors="replace")
    return value[:limit] if isinstance(value, str) else ""


def _epoch(value: object) -> float | None:
    if isinstance(value, datetime):
        return (value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def parse_x_death(headers: Mapping[str, Any] | None) -> tuple[list[Death], bool]:
    """The ``x-death`` entries (newest first, at most 64) and whether anything was malformed.

    Malformed entries (unknown reason, no queue, no positive count, not a table) are skipped.
    """
    raw = headers.get("x-death") if isinstance(headers, Mapping) else None
    if raw is None:
        return [], False
    if not isinstance(raw, list | tuple):
        return [], True
    deaths: list[Death] = []
    malformed = False
    for entry in raw[:MAX_DEATHS]:
        if not isinstance(entry, Mapping):
            malformed = True
            continue
        reason, queue, count = _text(entry.get("reason")), _text(entry.get("queue")), entry.get("count")
        if reason not in catalog.DLQ_REASONS or not queue or not isinstance(count, int) or isinstance(count, bool):
            malformed = True
            continue
        keys = entry.get("routing-keys")
        deaths.append(
            Death(
                queue=queue,
                reason=reason,
                count=max(1, count),
                exchange=_text(entry.get("exchange")),
                routing_keys=tuple(_text(k) for k in keys[:16]) if isinstance(keys, list | tuple) else (),
                time=_epoch(entry.get("time")),
            )
        )
    return deaths, malformed


def delivery_count(headers: Mapping[str, Any] | None) -> tuple[int | None, bool]:
    """``x-delivery-count`` (quorum queues: earlier deliveries) and whether it was malformed."""
    raw = headers.get("x-delivery-count") if isinstance(headers, Mapping) else None
    if raw is None:
        return None, False
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw, False
    return None, True


def _headers_of(message: Any) -> dict[str, Any]:
    headers = getattr(message, "headers", None)
    return dict(headers) if isinstance(headers, Mapping) else {}


@dataclass(frozen=True, slots=True)
class _Inbound:
    links: list[Link]
    problems: list[str]
    correlation_id: str | None
    deaths: list[Death]
    attempt: int
    message_id: str | None

    @property
    def total_deaths(self) -> int:
        return sum(death.count for death in self.deaths)


class _Consumer:
    """The wrapped handler; see :func:`instrument_consumer`."""

    def __init__(
        self,
        handler: Callable[[Any], Awaitable[Any]],
        *,
        queue: str,
        max_attempts: int,
        non_retryable: tuple[type[BaseException], ...],
        system: str,
        tracer_provider: Any,
        remember: int,
    ) -> None:
        if max_attempts < 1:
            msg = f"max_attempts must be at least 1, got {max_attempts}"
            raise ValueError(msg)
        self.handler = handler
        self.queue = queue
        self.max_attempts = max_attempts
        self.non_retryable: tuple[type[BaseException], ...] = (PermanentError, *non_retryable)
        self.system = system
        self.tracer_provider = tracer_provider
        self._failures: OrderedDict[str, int] = OrderedDict()
        self._remember = remember
        setattr(self, _MARK, True)
        self.__wrapped__ = handler

    def _key(self, message: Any) -> str:
        message_id = getattr(message, "message_id", None)
        if isinstance(message_id, str) and message_id:
            return message_id
        return hashlib.blake2b(bytes(getattr(message, "body", b"") or b""), digest_size=16).hexdigest()

    def _attempt(self, message: Any, count: int | None) -> int:
        if count is not None:
            return count + 1
        return self._failures.get(self._key(message), 0) + 1

    def _failed(self, message: Any) -> None:
        key = self._key(message)
        self._failures[key] = self._failures.get(key, 0) + 1
        self._failures.move_to_end(key)
        while len(self._failures) > self._remember:
            self._failures.popitem(last=False)

    def _forget(self, message: Any) -> None:
        self._failures.pop(self._key(message), None)

    def _correlation(self, message: Any, headers: Mapping[str, Any]) -> tuple[str | None, bool]:
        """The correlation ID (header first, then the AMQP property) and whether one offered was invalid."""
        _, cid = extract(headers)
        invalid = cid is None and HEADER in headers
        if cid is None:
            prop = getattr(message, "correlation_id", None)
            if is_valid(prop):
                cid = prop
            elif prop:
                invalid = True
        return cid, invalid

    async def _settle(self, message: Any, *, requeue: bool | None) -> None:
        """``requeue=None`` acks; otherwise rejects. A settle failure (channel gone) is logged only:
        the broker redelivers the message, which is what at-least-once means."""
        try:
            if requeue is None:
                await message.ack()
            else:
                await message.reject(requeue=requeue)
        except Exception as exc:
            _log.warning("settling a message from %s failed with %s", self.queue, error_type(exc))

    def _inspect(self, message: Any) -> _Inbound:
        """Read and validate everything the headers carry; never raises on garbage."""
        headers = _headers_of(message)
        links = links_from(headers)
        problems: list[str] = []
        if "traceparent" in headers and not any(
            (link.attributes or {}).get("messaging.link") == "creation" for link in links
        ):
            problems.append("traceparent")
        cid, invalid_cid = self._correlation(message, headers)
        if invalid_cid:
            problems.append("correlation_id")
        deaths, bad_deaths = parse_x_death(headers)
        if bad_deaths:
            problems.append("x-death")
        count, bad_count = delivery_count(headers)
        if bad_count:
            problems.append("x-delivery-count")
        message_id = getattr(message, "message_id", None)
        return _Inbound(
            links=links,
            problems=problems,
            correlation_id=cid,
            deaths=deaths,
            attempt=self._attempt(message, count),
            message_id=message_id if isinstance(message_id, str) and message_id else None,
        )

    async def _failed_with(self, message: Any, inbound: _Inbound, exc: Exception, span: Any) -> None:
        from telemetry.events.dlq import MessageDeadLettered, MessageRetryScheduled

        mark_failed(span, exc)
        if inbound.attempt < self.max_attempts and not isinstance(exc, self.non_retryable):
            self._failed(message)
            record(
                MessageRetryScheduled(
                    queue=self.queue,
                    message_id=inbound.message_id,
                    attempt=inbound.attempt,
                    max_attempts=self.max_attempts,
                    caused_by=exc,
                )
            )
            await self._settle(message, requeue=True)
            return
        self._forget(message)
        record(
            MessageDeadLettered(
                queue=self.queue,
                message_id=inbound.message_id,
                attempt=inbound.attempt,
                deaths=inbound.total_deaths,
                caused_by=exc,
            )
        )
        await self._settle(message, requeue=False)

    async def __call__(self, message: Any) -> None:
        from telemetry.events.dlq import (
            InvalidHeaderIgnored,
            MessageDeadLettered,
            MessageDuplicateSkipped,
            MessageProcessed,
        )

        inbound = self._inspect(message)
        attributes: dict[str, Any] = {
            "messaging.system": self.system,
            "messaging.destination.name": self.queue,
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "consumer.attempt": inbound.attempt,
        }
        if inbound.message_id:
            attributes["messaging.message.id"] = inbound.message_id
        if inbound.total_deaths:
            attributes["dlq.deaths"] = inbound.total_deaths
        with (
            bound(inbound.correlation_id) as cid,
            messaging_span(
                f"process {self.queue}",
                kind=SpanKind.CONSUMER,
                links=inbound.links,
                attributes=attributes,
                tracer_provider=self.tracer_provider,
            ) as span,
        ):
            span.set_attribute("messaging.message.conversation_id", cid)
            for header in inbound.problems:
                record(InvalidHeaderIgnored(queue=self.queue, header=header, message_id=inbound.message_id))
            newest = inbound.deaths[0] if inbound.deaths else None
            if inbound.attempt == 1 and newest is not None and newest.reason != "rejected":
                record(
                    MessageDeadLettered(
                        queue=newest.queue,
                        message_id=inbound.message_id,
                        reason=newest.reason,
                        by="broker",
                        deaths=inbound.total_deaths,
                    )
                )
            try:
                await self.handler(message)
            except DuplicateMessage:
                self._forget(message)
                record(MessageDuplicateSkipped(queue=self.queue, message_id=inbound.message_id))
                await self._settle(message, requeue=None)
            except Exception as exc:
                await self._failed_with(message, inbound, exc, span)
            else:
                self._forget(message)
                record(MessageProcessed(queue=self.queue, message_id=inbound.message_id, attempt=inbound.attempt))
                await self._settle(message, requeue=None)


def instrument_consumer(
    handler: Callable[[Any], Awaitable[Any]],
    *,
    queue: str = "",
    max_attempts: int = 3,
    non_retryable: tuple[type[BaseException], ...] = (),
    system: str = "rabbitmq",
    tracer_provider: Any = None,
    remember: int = 10_000,
) -> Callable[[Any], Awaitable[None]]:
    """Wrap an async message handler (see the module docstring); wrapping twice is a no-op.

    Args:
        handler: ``async def handler(message)``; raise :class:`DuplicateMessage` to skip,
            :class:`PermanentError` (or a ``non_retryable`` type) to dead-letter at once.
        queue: the queue's name (a metric label; bounded).
        max_attempts: deliveries before the message is dead-lettered.
        non_retryable: exception types dead-lettered on the first failure.
        remember: message ids whose failures are counted in process when the broker gives no
            ``x-delivery-count`` (classic queues).
    """
    if getattr(handler, _MARK, False):
        return handler
    if not queue:
        msg = "instrument_consumer needs queue=<the queue's name>"
        raise ValueError(msg)
    return _Consumer(
        handler,
        queue=queue,
        max_attempts=max_attempts,
        non_retryable=non_retryable,
        system=system,
        tracer_provider=tracer_provider,
        remember=remember,
    )


def uninstrument_consumer(handler: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], Awaitable[Any]]:
    """The original handler of a wrapped one (the handler itself if it was never wrapped)."""
    return handler.__wrapped__ if isinstance(handler, _Consumer) else handler


# --- dead-letter queue depth and age, at scrape time ------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueStats:
    """A queue's depth and the Unix time its head message died (or was published), if known."""

    depth: int
    oldest: float | None = None


QueueStatsReader = Callable[[Sequence[str]], Mapping[str, QueueStats]]


class DeadLetterQueueCollector:
    """Depth, oldest-message age and a staleness flag per DLQ, read off the scrape path.

    ``read(queues)`` is any blocking reader (:func:`rabbitmq_queue_stats`, or the in-memory
    broker's ``queue_stats``); a scrape waits at most ``timeout`` and otherwise serves the last
    reading with ``resilience_dlq_stats_stale = 1``. Queues the reader did not find are left out.
    """

    def __init__(
        self,
        queues: Sequence[str],
        read: QueueStatsReader,
        *,
        timeout: float = 2.0,
        min_interval: float = 5.0,
    ) -> None:
        self.queues = tuple(queues)
        self.reading: CachedReading[Mapping[str, QueueStats]] = CachedReading(
            lambda: read(self.queues), timeout=timeout, min_interval=min_interval, what="dead-letter queue stats"
        )

    def describe(self) -> list[Any]:
        return [family(catalog.DLQ_DEPTH), family(catalog.DLQ_OLDEST_AGE), family(catalog.DLQ_STATS_STALE)]

    def collect(self) -> Iterator[Any]:
        value, stale = self.reading.get()
        depth, age, flag = family(catalog.DLQ_DEPTH), family(catalog.DLQ_OLDEST_AGE), family(catalog.DLQ_STATS_STALE)
        now = time.time()
        for queue in self.queues:
            flag.add_metric([queue], 1.0 if stale else 0.0)
            stats = (value or {}).get(queue)
            if stats is None:
                continue
            depth.add_metric([queue], stats.depth)
            oldest = stats.oldest if stats.depth else None
            age.add_metric([queue], 0.0 if oldest is None else max(0.0, now - oldest))
        yield depth
        yield age
        yield flag


def rabbitmq_queue_stats(url: str, *, peek: bool = True, timeout: float = 2.0) -> QueueStatsReader:
    """A blocking reader for :class:`DeadLetterQueueCollector`: one short connection per read,
    a passive declare per queue (depth), and with ``peek`` a ``basic.get`` + requeue of the head
    message for its age (newest ``x-death`` time, else its timestamp). Peeking marks the head
    message redelivered; turn it off for quorum DLQs that have a delivery limit."""

    async def read_async(queues: Sequence[str]) -> dict[str, QueueStats]:
        import aio_pika

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
                            oldest = deaths[0].time if deaths and deaths[0].time else _epoch(head.timestamp)
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


def watch_dead_letter_queues(
    queues: Sequence[str],
    *,
    url: str | None = None,
    read: QueueStatsReader | None = None,
    telemetry: Telemetry | None = None,
    timeout: float = 2.0,
    min_interval: float = 5.0,
) -> DeadLetterQueueCollector:
    """Register a :class:`DeadLetterQueueCollector` for ``queues`` (RabbitMQ at ``url``, or any
    ``read``er) with the set-up's registry and return it."""
    if read is None:
        if url is None:
            msg = "pass url= (RabbitMQ) or read= (another broker)"
            raise ValueError(msg)
        read = rabbitmq_queue_stats(url, timeout=timeout)
    if telemetry is None:
        from telemetry.bootstrap import setup

        telemetry = setup()
    collector = DeadLetterQueueCollector(queues, read, timeout=timeout, min_interval=min_interval)
    telemetry.instruments.register(collector)
    return collector


# --- redrive -----------------------------------------------------------------------------------


class DeadLetterSource(Protocol):
    """Takes one message from a queue without acknowledging it, or ``None`` when it is empty."""

    async def get(self, queue: str) -> Delivery | None: ...


class AioPikaDeadLetterSource:
    """A :class:`DeadLetterSource` on an aio-pika channel."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel

    async def get(self, queue: str) -> Delivery | None:
        found = await self.channel.get_queue(queue, ensure=False)
        message: Delivery | None = await found.get(no_ack=False, fail=False)
        return message


@dataclass(frozen=True, slots=True)
class RedriveReport:
    moved: int
    failed: int


def queue_destination(queue: str) -> str:
    """The publisher destination of ``queue`` on the default exchange."""
    return f":{queue}" if ":" in queue else queue


async def redrive(
    source: DeadLetterSource,
    publisher: Publisher,
    dlq: str,
    *,
    target: str | None = None,
    limit: int | None = None,
    tracer_provider: Any = None,
) -> RedriveReport:
    """Move messages from ``dlq`` back to ``target`` (default: the queue they died in, from
    ``x-death``), each confirmed before it is acknowledged in the DLQ.

    The body, message id, correlation ID and trace headers travel unchanged; broker-owned
    headers (``x-death``...) are dropped and ``x-redrive-count`` goes up by one, so the
    consumer starts a fresh attempt budget. Each move is a ``publish <target>`` PRODUCER span
    linked to the message's creation context. The first failure stops the redrive (the message
    stays in the DLQ); outcomes are counted in ``resilience_dlq_redrives_total``.
    """
    from telemetry.events.dlq import MessageRedriveFailed, MessageRedriven

    moved = failed = 0
    while limit is None or moved < limit:
        message = await source.get(dlq)
        if message is None:
            break
        headers = _headers_of(message)
        deaths, _ = parse_x_death(headers)
        queue = target or (deaths[0].queue if deaths else _text(headers.get("x-first-death-queue")))
        _, cid = extract(headers)
        if cid is None and is_valid(message.correlation_id):
            cid = message.correlation_id
        message_id = message.message_id if isinstance(message.message_id, str) else None
        with (
            bound(cid) as bound_cid,
            messaging_span(
                f"publish {queue or dlq}",
                kind=SpanKind.PRODUCER,
                links=links_from(headers),
                tracer_provider=tracer_provider,
                attributes={
                    "messaging.system": "rabbitmq",
                    "messaging.destination.name": queue or dlq,
                    "messaging.operation.type": "send",
                    "messaging.operation.name": "redrive",
                    "messaging.message.id": message_id or "",
                    "messaging.message.conversation_id": bound_cid,
                },
            ) as span,
        ):
            out = {k: v for k, v in headers.items() if k not in _BROKER_HEADERS and not k.startswith(_BROKER_PREFIXES)}
            previous = out.get("x-redrive-count")
            out["x-redrive-count"] = (previous if isinstance(previous, int) else 0) + 1
            out[HEADER] = bound_cid
            stamp_producer(out)
            try:
                if not queue:
                    msg = "no target: pass target= or redrive messages that carry x-death"
                    raise LookupError(msg)  # noqa: TRY301 - handled with the publish failures below
                await publisher.publish(queue_destination(queue), message.body, out, message_id or "", bound_cid)
            except Exception as exc:
                mark_failed(span, exc)
                failed += 1
                record(MessageRedriveFailed(queue=dlq, target=queue, message_id=message_id, caused_by=exc))
                await message.reject(requeue=True)
                break
            await message.ack()
            moved += 1
            record(
                MessageRedriven(
                    queue=dlq,
                    target=queue,
                    message_id=message_id,
                    reason=deaths[0].reason if deaths else "",
                    deaths=sum(death.count for death in deaths),
                )
            )
    return RedriveReport(moved, failed)
