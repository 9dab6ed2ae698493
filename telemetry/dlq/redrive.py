"""Redrive: move dead letters back to the queue they died in, keeping their trace and
correlation ID, each one confirmed before it leaves the DLQ."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry.trace import SpanKind

from telemetry import attributes as attr
from telemetry.correlation import HEADER, bound, extract, is_valid
from telemetry.messaging import (
    header_text,
    headers_of,
    links_from,
    mark_failed,
    messaging_span,
    parse_x_death,
    queue_destination,
    stamp_producer,
    without_broker_headers,
)
from telemetry.recorder import record

if TYPE_CHECKING:
    from telemetry.messaging import Delivery, Publisher

__all__ = ["DeadLetterSource", "RedriveReport", "redrive"]


class DeadLetterSource(Protocol):
    """Takes one message from a queue without acknowledging it, or ``None`` when it is empty."""

    async def get(self, queue: str) -> Delivery | None: ...


@dataclass(frozen=True, slots=True)
class RedriveReport:
    moved: int
    failed: int


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
        headers = headers_of(message)
        deaths, _ = parse_x_death(headers)
        queue = target or (deaths[0].queue if deaths else header_text(headers.get("x-first-death-queue")))
        _, cid = extract(headers)
        if cid is None and is_valid(message.correlation_id):
            cid = message.correlation_id
        message_id = message.message_id if isinstance(message.message_id, str) else None
        with (
            bound(cid) as bound_cid,
            messaging_span(
                f"redrive {queue or dlq}",
                kind=SpanKind.PRODUCER,
                links=links_from(headers),
                tracer_provider=tracer_provider,
                attributes={
                    attr.MESSAGING_SYSTEM: "rabbitmq",
                    attr.MESSAGING_DESTINATION_NAME: queue or dlq,
                    attr.MESSAGING_OPERATION_TYPE: "send",
                    attr.MESSAGING_OPERATION_NAME: "redrive",
                    **({attr.MESSAGING_MESSAGE_ID: message_id} if message_id else {}),
                    attr.MESSAGING_MESSAGE_CONVERSATION_ID: bound_cid,
                },
            ) as span,
        ):
            out = without_broker_headers(headers)
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
