"""Outbox events: a message enqueued (after commit), published, failed, abandoned; a relay poll."""

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

__all__ = ["OutboxEnqueued", "OutboxMessageAbandoned", "OutboxPolled", "OutboxPublishFailed", "OutboxPublished"]


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxEnqueued(Event):
    """A message written to the outbox became durable: its transaction committed."""

    name: ClassVar[str] = "telemetry.outbox.enqueued"
    level: ClassVar[int] = logging.DEBUG
    destination: str
    message_id: str

    def to_metrics(self, m: Instruments) -> None:
        m.inc(catalog.OUTBOX_ENQUEUED, messaging_destination_name=m.admit(catalog.DESTINATION, self.destination))

    def attributes(self) -> Attributes:
        return attr.present(
            {attr.MESSAGING_DESTINATION_NAME: self.destination, attr.MESSAGING_MESSAGE_ID: self.message_id}
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxPublished(Event):
    """The relay published a row and the broker confirmed it; ``lag`` is creation -> confirm."""

    name: ClassVar[str] = "telemetry.outbox.published"
    level: ClassVar[int] = logging.DEBUG
    destination: str
    message_id: str
    attempt: int
    lag: float

    def to_metrics(self, m: Instruments) -> None:
        destination = m.admit(catalog.DESTINATION, self.destination)
        m.inc(catalog.OUTBOX_DISPATCHED, messaging_destination_name=destination, outcome="published", error_type="")
        m.observe(catalog.OUTBOX_DELIVERY_LAG, self.lag, messaging_destination_name=destination)

    def attributes(self) -> Attributes:
        return attr.present(
            {
                attr.MESSAGING_DESTINATION_NAME: self.destination,
                attr.MESSAGING_MESSAGE_ID: self.message_id,
                attr.OUTBOX_ATTEMPT: self.attempt,
                attr.OUTBOX_DELIVERY_LAG: self.lag,
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxPublishFailed(Event):
    """Publishing a row failed; the row stays pending and is tried again after ``retry_in`` s."""

    name: ClassVar[str] = "telemetry.outbox.publish_failed"
    level: ClassVar[int] = logging.WARNING
    destination: str
    message_id: str
    attempt: int
    retry_in: float
    caused_by: BaseException | None = None

    def to_metrics(self, m: Instruments) -> None:
        m.inc(
            catalog.OUTBOX_DISPATCHED,
            messaging_destination_name=m.admit(catalog.DESTINATION, self.destination),
            outcome="retry_scheduled",
            error_type=m.admit(catalog.ERROR_TYPE, error_type(self.caused_by)),
        )

    def attributes(self) -> Attributes:
        return attr.present(
            {
                attr.MESSAGING_DESTINATION_NAME: self.destination,
                attr.MESSAGING_MESSAGE_ID: self.message_id,
                attr.OUTBOX_ATTEMPT: self.attempt,
                attr.OUTBOX_RETRY_IN: self.retry_in,
                attr.ERROR_TYPE: error_type(self.caused_by),
            }
        )


ABANDON_OUTCOMES: tuple[str, ...] = ("failed", "dead_lettered")


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxMessageAbandoned(Event):
    """The relay gave up on a row: ``failed`` (left in the table, status failed) or
    ``dead_lettered`` (moved to a dead-letter destination)."""

    name: ClassVar[str] = "telemetry.outbox.abandoned"
    level: ClassVar[int] = logging.ERROR
    destination: str
    message_id: str
    attempt: int
    outcome: str = "failed"
    caused_by: BaseException | None = None

    def __post_init__(self) -> None:
        if self.outcome not in ABANDON_OUTCOMES:
            msg = f"outcome must be one of {ABANDON_OUTCOMES}, got {self.outcome!r}"
            raise ValueError(msg)

    def to_metrics(self, m: Instruments) -> None:
        m.inc(
            catalog.OUTBOX_DISPATCHED,
            messaging_destination_name=m.admit(catalog.DESTINATION, self.destination),
            outcome=self.outcome,
            error_type=m.admit(catalog.ERROR_TYPE, error_type(self.caused_by)),
        )

    def attributes(self) -> Attributes:
        return attr.present(
            {
                attr.MESSAGING_DESTINATION_NAME: self.destination,
                attr.MESSAGING_MESSAGE_ID: self.message_id,
                attr.OUTBOX_ATTEMPT: self.attempt,
                attr.OUTBOX_OUTCOME: self.outcome,
                attr.ERROR_TYPE: error_type(self.caused_by),
            }
        )

    def to_span(self, span: Span) -> None:
        attributes = self.attributes()
        span.add_event(self.name, attributes)
        span.set_attribute(attr.ERROR_TYPE, attributes.get(attr.ERROR_TYPE, "_OTHER"))
        span.set_status(StatusCode.ERROR, f"outbox message {self.outcome}")


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxPolled(Event):
    """One relay poll finished. A healthy poll (nothing to do, or something published) moves
    the heartbeat to ``at``; a poll where every publication failed leaves it to go stale."""

    name: ClassVar[str] = "telemetry.outbox.polled"
    level: ClassVar[int] = logging.DEBUG
    claimed: int
    published: int
    at: float

    @property
    def healthy(self) -> bool:
        return self.claimed == 0 or self.published > 0

    def to_metrics(self, m: Instruments) -> None:
        if self.claimed:
            m.observe(catalog.OUTBOX_BATCH_SIZE, self.claimed)
        if self.healthy:
            m.set(catalog.OUTBOX_RELAY_HEARTBEAT, self.at)

    def attributes(self) -> Attributes:
        return attr.present(
            {
                attr.OUTBOX_CLAIMED: self.claimed,
                attr.OUTBOX_PUBLISHED: self.published,
                attr.OUTBOX_HEALTHY: self.healthy,
            }
        )

    def to_span(self, span: Span) -> None:
        # Polls run every fraction of a second: only a poll that did work is worth a span event.
        if self.claimed:
            span.add_event(self.name, self.attributes())
