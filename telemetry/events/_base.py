"""The event protocol: what every resilience event knows about its three renderings.

An event is a frozen, slotted, keyword-only dataclass named as a past-tense fact. It renders
itself to metrics (through pre-bound :class:`~telemetry.metrics.Instruments` children), to the
current span (an event by default; some set attributes or the span status), and to one log
line. Keeping the three renderings beside the fields keeps each event's vocabulary in one
place, and the recorder stays a dumb fan-out.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from opentelemetry.trace import Span
    from opentelemetry.util.types import AttributeValue

    from telemetry.metrics import Instruments

__all__ = ["Attributes", "Event"]

Attributes = dict[str, "AttributeValue"]


class Event:
    """Base of all events. Subclasses are ``@dataclass(frozen=True, slots=True, kw_only=True)``.

    ``name`` is the span-event name and the structlog event (``telemetry.<source>.<fact>``);
    ``level`` the default log level, overridable per event name in the set-up call.
    """

    __slots__ = ()
    name: ClassVar[str]
    level: ClassVar[int] = logging.INFO

    def to_metrics(self, m: Instruments) -> None:
        """Update the metrics; must be cheap, it runs on the caller's hot path."""

    def attributes(self) -> Attributes:
        """Span-event attributes and log fields; never IDs as labels, never secrets."""
        return {}

    def to_span(self, span: Span) -> None:
        """Render onto the current (recording) span; an event unless overridden."""
        span.add_event(self.name, self.attributes())
