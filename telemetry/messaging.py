"""What messages carry, for every broker: trace context and correlation ID in the headers,
producer and consumer spans with their links, and the broker's ``x-death`` bookkeeping.

The outbox relay, the consumer wrapper and dead-letter redrive all speak through these, so a
message keeps one trace and one correlation ID from the request that wrote it to the redrive
that brings it back. Header propagation itself is :mod:`telemetry.correlation`'s
(:func:`~telemetry.correlation.inject` / :func:`~telemetry.correlation.extract`); this module
adds what is specific to messages. Brokers sit behind two small protocols, :class:`Publisher`
and :class:`Delivery`, so RabbitMQ and the in-memory broker of :mod:`telemetry.testing.broker`
plug in alike. Nothing here imports a broker library.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final, Protocol

from opentelemetry import propagate, trace
from opentelemetry.trace import Link, SpanKind, StatusCode

from telemetry import attributes as attr
from telemetry import catalog
from telemetry.correlation import extract
from telemetry.labels import error_type

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

__all__ = [
    "BROKER_HEADERS",
    "MAX_DEATHS",
    "PRODUCER_HEADER",
    "Death",
    "Delivery",
    "Publisher",
    "delivery_count",
    "epoch",
    "header_text",
    "headers_of",
    "links_from",
    "mark_failed",
    "messaging_span",
    "parse_x_death",
    "queue_destination",
    "split_destination",
    "stamp_producer",
    "tracer",
    "without_broker_headers",
]

PRODUCER_HEADER: Final = "x-producer-traceparent"
"""The relay's publish span, carried beside the creation ``traceparent`` so the consumer links to both."""
INSTRUMENTATION: Final = "telemetry.outbox"
MAX_DEATHS: Final = 64
BROKER_HEADERS: Final = ("x-death", "x-delivery-count")
"""Headers the broker owns; a republished message must not carry them."""
_BROKER_PREFIXES: Final = ("x-first-death-", "x-last-death-")


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


class Delivery(Protocol):
    """What the consumer wrapper and redrive need from a delivered message (aio-pika's
    ``IncomingMessage`` has it; so does :class:`telemetry.testing.broker.MemoryDelivery`)."""

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


def split_destination(destination: str) -> tuple[str, str]:
    """``exchange:routing_key`` -> (exchange, routing key); a bare name is a queue on the
    default exchange (``""``, also spelled ``amq.default``)."""
    exchange, sep, routing_key = destination.partition(":")
    if not sep:
        return "", destination
    return ("" if exchange == "amq.default" else exchange), routing_key


def queue_destination(queue: str) -> str:
    """The publisher destination of ``queue`` on the default exchange."""
    return f":{queue}" if ":" in queue else queue


def headers_of(message: Any) -> dict[str, Any]:
    """A message's headers as a plain dict (empty when it has none or they are not a table)."""
    headers = getattr(message, "headers", None)
    return dict(headers) if isinstance(headers, Mapping) else {}


def without_broker_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """``headers`` minus the broker-owned ones (``x-death``, ``x-delivery-count``, ``x-*-death-*``)."""
    return {k: v for k, v in headers.items() if k not in BROKER_HEADERS and not k.startswith(_BROKER_PREFIXES)}


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
            links.append(Link(span_context, {attr.LINK_KIND: kind}))
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
    span.set_attribute(attr.ERROR_TYPE, error_type(exc))
    span.set_status(StatusCode.ERROR, error_type(exc))


def stamp_producer(headers: MutableMapping[str, Any]) -> None:
    """Put the current (publish) span into :data:`PRODUCER_HEADER`; ``traceparent`` stays the
    creation context."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if "traceparent" in carrier:
        headers[PRODUCER_HEADER] = carrier["traceparent"]


# --- the broker's dead-letter bookkeeping ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Death:
    """One ``x-death`` entry (newest first in the header)."""

    queue: str
    reason: str
    count: int
    exchange: str = ""
    routing_keys: tuple[str, ...] = ()
    time: float | None = None


def header_text(value: object, limit: int = 255) -> str:
    """A header value as bounded text (bytes decoded leniently); anything else gives ``""``."""
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", errors="replace")
    return value[:limit] if isinstance(value, str) else ""


def epoch(value: object) -> float | None:
    """A header or property timestamp (datetime, or positive Unix seconds) as Unix time."""
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
        reason, queue, count = header_text(entry.get("reason")), header_text(entry.get("queue")), entry.get("count")
        if reason not in catalog.DLQ_REASONS or not queue or not isinstance(count, int) or isinstance(count, bool):
            malformed = True
            continue
        keys = entry.get("routing-keys")
        deaths.append(
            Death(
                queue=queue,
                reason=reason,
                count=max(1, count),
                exchange=header_text(entry.get("exchange")),
                routing_keys=tuple(header_text(k) for k in keys[:16]) if isinstance(keys, list | tuple) else (),
                time=epoch(entry.get("time")),
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
