"""Circuit-breaker events: state transitions, failed calls and rejected calls.

Successful calls have no event: they are the hot path and are counted on a pre-bound counter
by :meth:`telemetry.breaker.Breaker.succeeded` (no span event, no log line). The one-hot state
and the time in each state are not events either; a scrape-time collector reads them
(:mod:`telemetry.breaker`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Final

from telemetry import attributes as attr
from telemetry import catalog
from telemetry.events._base import Attributes, Event
from telemetry.labels import error_type

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from telemetry.metrics import Instruments

__all__ = [
    "REJECTED_ERROR_TYPE",
    "CircuitCallFailed",
    "CircuitCallRejected",
    "CircuitClosed",
    "CircuitHalfOpened",
    "CircuitOpened",
    "CircuitStateChanged",
    "state_changed_event",
]

REJECTED_ERROR_TYPE: Final = "circuit_breaker_open"


@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitStateChanged(Event):
    """A breaker moved from ``from_state`` to the state its class names.

    One class per target state, so each has its own log level and can be silenced alone.
    """

    to_state: ClassVar[str]
    breaker_name: str
    from_state: str

    def to_metrics(self, m: Instruments) -> None:
        m.inc(
            catalog.CIRCUIT_TRANSITIONS,
            breaker_name=m.admit(catalog.BREAKER_NAME, self.breaker_name),
            from_state=self.from_state,
            to_state=self.to_state,
        )

    def attributes(self) -> Attributes:
        return attr.present(
            {
                attr.BREAKER_NAME: self.breaker_name,
                attr.BREAKER_FROM_STATE: self.from_state,
                attr.BREAKER_STATE: self.to_state,
            }
        )

    def to_span(self, span: Span) -> None:
        span.add_event(self.name, self.attributes())
        span.set_attribute(attr.BREAKER_NAME, self.breaker_name)
        span.set_attribute(attr.BREAKER_STATE, self.to_state)


@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitOpened(CircuitStateChanged):
    """The breaker opened: calls are rejected until it half-opens."""

    name: ClassVar[str] = "telemetry.breaker.opened"
    level: ClassVar[int] = logging.ERROR
    to_state: ClassVar[str] = "open"


@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitHalfOpened(CircuitStateChanged):
    """The breaker lets trial calls through to decide whether to close again."""

    name: ClassVar[str] = "telemetry.breaker.half_opened"
    level: ClassVar[int] = logging.WARNING
    to_state: ClassVar[str] = "half_open"


@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitClosed(CircuitStateChanged):
    """The breaker closed: calls flow normally again."""

    name: ClassVar[str] = "telemetry.breaker.closed"
    level: ClassVar[int] = logging.INFO
    to_state: ClassVar[str] = "closed"


_BY_STATE: Final[dict[str, type[CircuitStateChanged]]] = {
    "open": CircuitOpened,
    "half_open": CircuitHalfOpened,
    "closed": CircuitClosed,
}


def state_changed_event(breaker_name: str, from_state: str, to_state: str) -> CircuitStateChanged:
    """The transition event for normalised states (``closed``, ``open``, ``half_open``)."""
    return _BY_STATE[to_state](breaker_name=breaker_name, from_state=from_state)


@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitCallFailed(Event):
    """A call through the breaker failed and counts against it. DEBUG: the error is the caller's."""

    name: ClassVar[str] = "telemetry.breaker.call_failed"
    level: ClassVar[int] = logging.DEBUG
    breaker_name: str
    state: str
    caused_by: BaseException | None = None

    def to_metrics(self, m: Instruments) -> None:
        m.inc(catalog.CIRCUIT_CALLS, breaker_name=m.admit(catalog.BREAKER_NAME, self.breaker_name), outcome="failure")

    def attributes(self) -> Attributes:
        return attr.present(
            {
                attr.BREAKER_NAME: self.breaker_name,
                attr.BREAKER_STATE: self.state,
                attr.ERROR_TYPE: error_type(self.caused_by),
            }
        )

    def to_span(self, span: Span) -> None:
        # The failing call's own exception marks the span; the breaker only says where it stood.
        span.set_attribute(attr.BREAKER_NAME, self.breaker_name)
        span.set_attribute(attr.BREAKER_STATE, self.state)


@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitCallRejected(Event):
    """The breaker refused a call without trying the dependency.

    The span gets ``error.type=circuit_breaker_open`` and an event, not an error status: the
    caller may well answer from a fallback; if the rejection propagates, the span's own
    exception handling marks it.
    """

    name: ClassVar[str] = "telemetry.breaker.rejected"
    level: ClassVar[int] = logging.DEBUG
    breaker_name: str
    state: str = "open"

    def to_metrics(self, m: Instruments) -> None:
        m.inc(catalog.CIRCUIT_CALLS, breaker_name=m.admit(catalog.BREAKER_NAME, self.breaker_name), outcome="rejected")

    def attributes(self) -> Attributes:
        return attr.present(
            {
                attr.BREAKER_NAME: self.breaker_name,
                attr.BREAKER_STATE: self.state,
                attr.ERROR_TYPE: REJECTED_ERROR_TYPE,
            }
        )

    def to_span(self, span: Span) -> None:
        attributes = self.attributes()
        span.add_event(self.name, attributes)
        span.set_attributes(attributes)
