"""Bulkhead events: a call refused because the bulkhead (a concurrency limit) was full.

Admitted calls have no event: entering and leaving a bulkhead is the hot path and only moves
pre-bound children (:class:`telemetry.bulkheads.BulkheadReporter`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Final

from telemetry import catalog
from telemetry.events._base import Attributes, Event

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from telemetry.metrics import Instruments

__all__ = ["BULKHEAD_FULL_ERROR_TYPE", "REJECTION_REASONS", "BulkheadCallRejected"]

BULKHEAD_FULL_ERROR_TYPE: Final = "bulkhead_full"
#: ``full``: no place and no queue; ``queue_full``: the queue was full too;
#: ``queue_timeout``: the call queued and gave up waiting
REJECTION_REASONS: Final = ("full", "queue_full", "queue_timeout")


@dataclass(frozen=True, slots=True, kw_only=True)
class BulkheadCallRejected(Event):
    """``bulkhead`` refused a call: ``in_flight`` of ``limit`` places were taken.

    ``waited`` is how long the call queued (``None`` when it did not queue). WARNING: a
    rejected call is an error the caller's user sees.
    """

    name: ClassVar[str] = "telemetry.bulkhead.rejected"
    level: ClassVar[int] = logging.WARNING
    bulkhead: str
    limit: int
    in_flight: int
    reason: str = "full"
    waited: float | None = None

    def to_metrics(self, m: Instruments) -> None:
        label = m.admit(catalog.BULKHEAD_NAME, self.bulkhead)
        m.inc(catalog.BULKHEAD_CALLS, label, "rejected")
        if self.waited is not None:
            m.observe(catalog.BULKHEAD_QUEUE_WAIT, self.waited, label)

    def attributes(self) -> Attributes:
        attributes: Attributes = {
            "bulkhead.name": self.bulkhead,
            "bulkhead.limit": self.limit,
            "bulkhead.in_flight": self.in_flight,
            "bulkhead.reason": self.reason,
            "error.type": BULKHEAD_FULL_ERROR_TYPE,
        }
        if self.waited is not None:
            attributes["bulkhead.waited_s"] = round(self.waited, 6)
        return attributes

    def to_span(self, span: Span) -> None:
        span.add_event(self.name, self.attributes())
        # Span attributes too: trace searches (the alert's link) filter on span.<attribute>.
        span.set_attribute("bulkhead.name", self.bulkhead)
        span.set_attribute("error.type", BULKHEAD_FULL_ERROR_TYPE)
