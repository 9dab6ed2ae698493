"""Relay instrumentation: one PRODUCER span per published outbox row, linked to the trace
that wrote the row, and the dispatch outcome as an event.

Use :func:`publish_instrumented` from your own relay, one call per claimed row, and update the
row from the :class:`PublishResult` it returns; :class:`~telemetry.outbox.relay.OutboxRelay`
is a reference relay built on it. Brokers sit behind :class:`telemetry.messaging.Publisher`,
so an in-memory stand-in (:mod:`telemetry.testing.broker`) plugs in as easily as RabbitMQ.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import SpanKind

from telemetry import attributes as attr
from telemetry.correlation import HEADER, bound, extract
from telemetry.messaging import links_from, mark_failed, messaging_span, stamp_producer
from telemetry.recorder import record

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from telemetry.messaging import Publisher

__all__ = ["OutboxMessage", "PublishResult", "exponential_backoff", "publish_instrumented"]


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A claimed outbox row, as the relay sees it. ``attempts`` counts earlier failed tries."""

    message_id: str
    destination: str
    payload: bytes
    headers: Mapping[str, Any]
    created_at: datetime
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class PublishResult:
    """``outcome`` is ``published``, ``retry_scheduled`` (try again after ``retry_in`` s) or
    ``failed`` (attempt budget spent; mark the row failed)."""

    outcome: str
    attempt: int
    retry_in: float = 0.0
    error: BaseException | None = None


def exponential_backoff(base: float = 0.5, cap: float = 60.0) -> Callable[[int], float]:
    """Delay before attempt ``n + 1`` after ``n`` failures: ``base * 2 ** (n - 1)``, capped."""

    def delay(failures: int) -> float:
        return float(min(cap, base * 2 ** max(0, failures - 1)))

    return delay


def _age(created_at: datetime) -> float:
    created = created_at if created_at.tzinfo is not None else created_at.replace(tzinfo=timezone.utc)
    return max(0.0, time.time() - created.timestamp())


async def publish_instrumented(
    publisher: Publisher,
    message: OutboxMessage,
    *,
    max_attempts: int = 10,
    backoff: Callable[[int], float] | None = None,
    system: str = "rabbitmq",
    tracer_provider: Any = None,
) -> PublishResult:
    """Publish one outbox row inside a ``publish <destination>`` PRODUCER span; never raises.

    The span links to the trace stored on the row, carries the messaging attributes
    (``messaging.system``, ``messaging.destination.name``, ``messaging.operation.type=send``,
    ``messaging.message.id``, ``messaging.message.conversation_id``) and the row's correlation
    ID is bound while publishing, so log lines carry it. The outgoing headers keep the row's
    ``traceparent`` (the creation context) and add :data:`PRODUCER_HEADER`.
    """
    from telemetry.events.outbox import OutboxMessageAbandoned, OutboxPublished, OutboxPublishFailed

    _, correlation_id = extract(message.headers)
    attempt = message.attempts + 1
    attributes: dict[str, Any] = {
        attr.MESSAGING_SYSTEM: system,
        attr.MESSAGING_DESTINATION_NAME: message.destination,
        attr.MESSAGING_OPERATION_TYPE: "send",
        attr.MESSAGING_OPERATION_NAME: "publish",
        attr.MESSAGING_MESSAGE_ID: message.message_id,
        attr.OUTBOX_ATTEMPT: attempt,
    }
    if correlation_id:
        attributes[attr.MESSAGING_MESSAGE_CONVERSATION_ID] = correlation_id
    with (
        bound(correlation_id) as cid,
        messaging_span(
            f"publish {message.destination}",
            kind=SpanKind.PRODUCER,
            links=links_from(message.headers),
            attributes=attributes,
            tracer_provider=tracer_provider,
        ) as span,
    ):
        headers = dict(message.headers)
        headers[HEADER] = cid
        stamp_producer(headers)
        try:
            await publisher.publish(message.destination, message.payload, headers, message.message_id, cid)
        except Exception as exc:
            mark_failed(span, exc)
            if attempt >= max_attempts:
                record(
                    OutboxMessageAbandoned(
                        destination=message.destination, message_id=message.message_id, attempt=attempt, caused_by=exc
                    )
                )
                return PublishResult("failed", attempt, error=exc)
            delay = (backoff or exponential_backoff())(attempt)
            record(
                OutboxPublishFailed(
                    destination=message.destination,
                    message_id=message.message_id,
                    attempt=attempt,
                    retry_in=delay,
                    caused_by=exc,
                )
            )
            return PublishResult("retry_scheduled", attempt, retry_in=delay, error=exc)
        record(
            OutboxPublished(
                destination=message.destination,
                message_id=message.message_id,
                attempt=attempt,
                lag=_age(message.created_at),
            )
        )
        return PublishResult("published", attempt)
