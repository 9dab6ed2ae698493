"""Timeout events: an operation ran out of its time budget.

Operations that finish within their budget have no event: they are the hot path and are
counted on pre-bound children by :class:`telemetry.timeouts.TimeBudget` (no span event, no log
line). Timeouts that other parts of the package already see (pool checkouts, health checks,
S3 calls, retries stopped by their delay) keep their own metrics and never become this event.
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

__all__ = ["TIMEOUT_ERROR_TYPE", "OperationTimedOut"]

TIMEOUT_ERROR_TYPE: Final = "TimeoutError"


@dataclass(frozen=True, slots=True, kw_only=True)
class OperationTimedOut(Event):
    """``operation`` was still running when its ``budget`` (seconds) ran out after ``elapsed``.

    Logged at WARNING: one timeout is news, a flood of them is what the ratio alert is for.
    The span gets an event and ``error.type``; its status is left to the exception that the
    caller lets propagate.
    """

    name: ClassVar[str] = "telemetry.timeout.expired"
    level: ClassVar[int] = logging.WARNING
    operation: str
    budget: float
    elapsed: float

    def to_metrics(self, m: Instruments) -> None:
        operation = m.admit(catalog.TIMEOUT_OPERATION, self.operation)
        m.inc(catalog.TIMEOUT_CALLS, operation, "timeout")
        m.observe(catalog.TIMEOUT_DURATION, self.elapsed, operation)

    def attributes(self) -> Attributes:
        return {
            "timeout.operation": self.operation,
            "timeout.budget_s": self.budget,
            "timeout.elapsed_s": round(self.elapsed, 6),
            "error.type": TIMEOUT_ERROR_TYPE,
        }

    def to_span(self, span: Span) -> None:
        span.add_event(self.name, self.attributes())
        # Span attributes too: trace searches (the alert's link) filter on span.<attribute>.
        span.set_attribute("timeout.operation", self.operation)
        span.set_attribute("error.type", TIMEOUT_ERROR_TYPE)
