"""Relay instrumentation: one PRODUCER span per published outbox row, linked to the trace
that wrote the row, and the dispatch outcome as an event.

Use :func:`publish_instrumented` from your own relay, one call per claimed row, and update the
row from the :class:`PublishResult` it returns; :class:`~telemetry.outbox.relay.OutboxRelay`
is a reference relay built on it. Brokers sit behind the :class:`Publisher` protocol, so an
in-memory stand-in (:mod:`telemetry.outbox.memory`) plugs in as easily as RabbitMQ.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final, Protocol

from opentelemetry import propagate, trace
from opentelemetry.trace import Link, SpanKind, StatusCode

from telemetry.correlation import HEADER, bound, extract
from telemetry.labels import error_type
from telemetry.recorder import record

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

__all__ = [
    "PRODUCER_HEADER",
    "OutboxMessage",
    "PublishResult",
    "Publisher",
    "exponential_backoff",
    "links_from",
    "mark_failed",
    "messaging_span",
    "publish_instrumented",
    "stamp_producer",
    "tracer",
]

PRODUCER_HEADER: Final = "x-producer-traceparent"
"""The relay's publish span, carried beside the creation ``traceparent`` so the consumer links to both."""
INSTRUMENTATION: Final = "telemetry.outbox"


class Publisher(Protocol):
    """Publishes one message and returns once the broker accepted it (confirm); raises otherwise."""

    async def publish(
        self,
        destination: str,
        body: bytes,
        headers: Mapping[str, Any],
        message_id: str,
        correlation_id: str | None,
    ) -> None: ...


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


def tracer(tracer_provider: Any = None) -> Tracer:
    """A tracer from ``tracer_provider``, else from the set-up call, else the global one."""
    if tracer_provider is None:
        from telemetry.bootstrap import current

        setup = current()
        tracer_provider = setup.tracer_provider if setup is not None else None
    return trace.get_tracer(INSTRUMENTATION, tracer_provider=tracer_provider)


def links_from(headers: Mapping[str, Any] | None) -> list[Link]:
    """Links to the creation context (``traceparent``) and the relay's publish span
    (``x-producer-traceparent``) carried by ``headers``; invalid ones are left out."""
    links: list[Link] = []
    if not isinstance(headers, Mapping):
        return links
    for key, kind in (("traceparent", "creation"), (PRODUCER_HEADER, "publish")):
        if key not in headers:
            continue
        carrier = {"traceparent": headers[key]}
        if key == "traceparent" and "tracestate" in headers:
            carrier["tracestate"] = headers["tracestate"]
        ctx, _ = extract(carrier)
        span_context = trace.get_current_span(ctx).get_span_context()
        if span_context.is_valid:
            links.append(Link(span_context, {"messaging.link": kind}))
    return links


@contextlib.contextmanager
def messaging_span(
    name: str, *, kind: SpanKind, links: list[Link], attributes: Mapping[str, Any], tracer_provider: Any = None
) -> Iterator[Span]:
    """A current span for a messaging operation. Exceptions are not recorded on it: broker
    errors can quote URLs with credentials, so callers set only ``error.type`` (:func:`mark_failed`)."""
    with tracer(tracer_provider).start_as_current_span(
        name,
        kind=kind,
        links=links,
        attributes=dict(attributes),
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def mark_failed(span: Span, exc: BaseException) -> None:
    """Error status and the bounded ``error.type`` on ``span``, never the message."""
    span.set_attribute("error.type", error_type(exc))
    span.set_status(StatusCode.ERROR, error_type(exc))


def stamp_producer(headers: MutableMapping[str, Any]) -> None:
    """Put the current (publish) span into :data:`PRODUCER_HEADER`; ``traceparent`` stays the
    creation context."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if "traceparent" in carrier:
        headers[PRODUCER_HEADER] = carrier["traceparent"]


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
        "messaging.system": system,
        "messaging.destination.name": message.destination,
        "messaging.operation.type": "send",
        "messaging.operation.name": "publish",
        "messaging.message.id": message.message_id,
        "outbox.attempt": attempt,
    }
    if correlation_id:
        attributes["messaging.message.conversation_id"] = correlation_id
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
