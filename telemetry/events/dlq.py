"""Consumer and dead-letter events: processed, duplicate skipped, retry, dead-lettered,
redriven, and malformed headers met on the way."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from opentelemetry.trace import StatusCode

from telemetry import attributes as attr
from telemetry import catalog
from telemetry.events._base import Attributes, Event
from telemetry.labels import error_type

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from telemetry.metrics import Instruments

__all__ = [
    "InvalidHeaderIgnored",
    "MessageDeadLettered",
    "MessageDuplicateSkipped",
    "MessageProcessed",
    "MessageRedriveFailed",
    "MessageRedriven",
    "MessageRetryScheduled",
]


def _consumed(m: Instruments, queue: str, outcome: str) -> None:
    m.inc(catalog.CONSUMER_MESSAGES, queue=m.admit(catalog.QUEUE, queue), outcome=outcome)


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageProcessed(Event):
    """The handler finished and the message was acknowledged."""

    name: ClassVar[str] = "telemetry.consumer.processed"
    level: ClassVar[int] = logging.DEBUG
    queue: str
    message_id: str | None
    attempt: int

    def to_metrics(self, m: Instruments) -> None:
        _consumed(m, self.queue, "success")

    def attributes(self) -> Attributes:
        return attr.present(
            {
                attr.MESSAGING_DESTINATION_NAME: self.queue,
                attr.MESSAGING_MESSAGE_ID: self.message_id,
                attr.CONSUMER_ATTEMPT: self.attempt,
            }
        )

    def to_span(self, span: Span) -> None:  # noqa: ARG002 - the protocol's signature
        # The consumer span itself says it succeeded; an event per message would be noise.
        return


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDuplicateSkipped(Event):
    """The handler recognised a delivery it had already processed (natural key) and skipped it."""

    name: ClassVar[str] = "telemetry.consumer.duplicate_skipped"
    level: ClassVar[int] = logging.INFO
    queue: str
    message_id: str | None

    def to_metrics(self, m: Instruments) -> None:
        _consumed(m, self.queue, "duplicate")

    def attributes(self) -> Attributes:
        return attr.present({attr.MESSAGING_DESTINATION_NAME: self.queue, attr.MESSAGING_MESSAGE_ID: self.message_id})


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageRetryScheduled(Event):
    """Processing failed with attempts left: the message goes back to the queue."""

    name: ClassVar[str] = "telemetry.consumer.retry_scheduled"
    level: ClassVar[int] = logging.WARNING
    queue: str
    message_id: str | None
    attempt: int
    max_attempts: int
    caused_by: BaseException | None = None

    def to_metrics(self, m: Instruments) -> None:
        _consumed(m, self.queue, "retry")

    def attributes(self) -> Attributes:
        return attr.present(
            {
                attr.MESSAGING_DESTINATION_NAME: self.queue,
                attr.MESSAGING_MESSAGE_ID: self.message_id,
                attr.CONSUMER_ATTEMPT: self.attempt,
                attr.CONSUMER_MAX_ATTEMPTS: self.max_attempts,
                attr.ERROR_TYPE: error_type(self.caused_by),
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDeadLettered(Event):
    """A message was dead-lettered.

    ``by="consumer"``: this consumer rejected it (``reason`` is ``rejected``) after its attempt
    budget or on a non-retryable error. ``by="broker"``: the message arrived carrying an
    ``x-death`` entry the broker wrote on its own (``expired``, ``maxlen``, ``delivery_limit``);
    ``queue`` is then the queue it died in. ``deaths`` (the total ``x-death`` count) is a log
    field, never a label.
    """

    name: ClassVar[str] = "telemetry.dlq.dead_lettered"
    level: ClassVar[int] = logging.ERROR
    queue: str
    message_id: str | None
    reason: str = "rejected"
    by: str = "consumer"
    attempt: int = 0
    deaths: int = 0
    caused_by: BaseException | None = None

    def __post_init__(self) -> None:
        if self.reason not in catalog.DLQ_REASONS:
            msg = f"reason must be one of {catalog.DLQ_REASONS}, got {self.reason!r}"
            raise ValueError(msg)

    def to_metrics(self, m: Instruments) -> None:
        queue = m.admit(catalog.QUEUE, self.queue)
        m.inc(
            catalog.DLQ_DEAD_LETTERED,
            queue=queue,
            reason=self.reason,
            error_type=m.admit(catalog.ERROR_TYPE, error_type(self.caused_by)),
        )
        if self.by == "consumer":
            m.inc(catalog.CONSUMER_MESSAGES, queue=queue, outcome="dead_lettered")

    def attributes(self) -> Attributes:
        return attr.present(
            {
                attr.MESSAGING_DESTINATION_NAME: self.queue,
                attr.MESSAGING_MESSAGE_ID: self.message_id,
                attr.DLQ_REASON: self.reason,
                attr.DLQ_BY: self.by,
                attr.DLQ_DEATHS: self.deaths,
                attr.CONSUMER_ATTEMPT: self.attempt,
                attr.ERROR_TYPE: error_type(self.caused_by),
            }
        )

    def to_span(self, span: Span) -> None:
        attributes = self.attributes()
        span.add_event(self.name, attributes)
        if self.by == "consumer":
            span.set_attribute(attr.ERROR_TYPE, attributes.get(attr.ERROR_TYPE, "_OTHER"))
            span.set_status(StatusCode.ERROR, "message dead-lettered")


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageRedriven(Event):
    """A message moved from a dead-letter queue back to ``target`` and was confirmed."""

    name: ClassVar[str] = "telemetry.dlq.redriven"
    level: ClassVar[int] = logging.INFO
    queue: str
    target: str
    message_id: str | None
    reason: str = ""
    deaths: int = 0

    def to_metrics(self, m: Instruments) -> None:
        m.inc(catalog.DLQ_REDRIVES, queue=m.admit(catalog.QUEUE, self.queue), outcome="success")

    def attributes(self) -> Attributes:
        return attr.present(
            {
                attr.DLQ_NAME: self.queue,
                attr.MESSAGING_DESTINATION_NAME: self.target,
                attr.MESSAGING_MESSAGE_ID: self.message_id,
                attr.DLQ_REASON: self.reason,
                attr.DLQ_DEATHS: self.deaths,
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageRedriveFailed(Event):
    """Moving a message out of a dead-letter queue failed; it stays in the DLQ."""

    name: ClassVar[str] = "telemetry.dlq.redrive_failed"
    level: ClassVar[int] = logging.WARNING
    queue: str
    target: str
    message_id: str | None
    caused_by: BaseException | None = None

    def to_metrics(self, m: Instruments) -> None:
        m.inc(catalog.DLQ_REDRIVES, queue=m.admit(catalog.QUEUE, self.queue), outcome="failure")

    def attributes(self) -> Attributes:
        return attr.present(
            {
                attr.DLQ_NAME: self.queue,
                attr.MESSAGING_DESTINATION_NAME: self.target,
                attr.MESSAGING_MESSAGE_ID: self.message_id,
                attr.ERROR_TYPE: error_type(self.caused_by),
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class InvalidHeaderIgnored(Event):
    """A message header was malformed (garbage ``traceparent``, invalid correlation ID, broken
    ``x-death``...) and was ignored or replaced. The offending value is never logged."""

    name: ClassVar[str] = "telemetry.consumer.invalid_header"
    level: ClassVar[int] = logging.INFO
    queue: str
    header: str
    message_id: str | None

    def __post_init__(self) -> None:
        if self.header not in catalog.CONSUMER_HEADERS:
            msg = f"header must be one of {catalog.CONSUMER_HEADERS}, got {self.header!r}"
            raise ValueError(msg)

    def to_metrics(self, m: Instruments) -> None:
        m.inc(catalog.CONSUMER_INVALID_HEADERS, queue=m.admit(catalog.QUEUE, self.queue), header=self.header)

    def attributes(self) -> Attributes:
        return attr.present(
            {
                attr.MESSAGING_DESTINATION_NAME: self.queue,
                attr.CONSUMER_HEADER: self.header,
                attr.MESSAGING_MESSAGE_ID: self.message_id,
            }
        )
