"""Retry events: a retry scheduled, and how the retried call finally ended."""

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

__all__ = ["RetryAbandoned", "RetryExhausted", "RetryScheduled", "RetrySucceeded"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryScheduled(Event):
    """An attempt failed and another one is scheduled after ``delay`` seconds.

    The span gets an event, not an error status: a retried error is not (yet) a failure.
    """

    name: ClassVar[str] = "telemetry.retry.scheduled"
    level: ClassVar[int] = logging.INFO
    retry_name: str
    attempt: int
    delay: float
    caused_by: BaseException | None = None

    def to_metrics(self, m: Instruments) -> None:
        m.inc(
            catalog.RETRY_SCHEDULED,
            retry_name=m.admit(catalog.RETRY_NAME, self.retry_name),
            error_type=m.admit(catalog.ERROR_TYPE, error_type(self.caused_by)),
        )

    def attributes(self) -> Attributes:
        return attr.present(
            {
                attr.RETRY_NAME: self.retry_name,
                attr.RETRY_ATTEMPT: self.attempt,
                attr.RETRY_DELAY: self.delay,
                attr.ERROR_TYPE: error_type(self.caused_by),
            }
        )


def _finished(m: Instruments, retry_name: str, outcome: str, attempts: int, waited: float) -> None:
    name = m.admit(catalog.RETRY_NAME, retry_name)
    m.inc(catalog.RETRY_CALLS, retry_name=name, outcome=outcome)
    m.inc(catalog.RETRY_ATTEMPTS, retry_name=name, amount=attempts)
    # First-attempt successes, the bulk, are left out of both histograms: their count is
    # calls{outcome="success_first_attempt"}, and observing them would cost the hot path.
    if outcome != "success_first_attempt":
        m.observe(catalog.RETRY_ATTEMPTS_PER_CALL, attempts, retry_name=name)
    if attempts > 1:
        m.observe(catalog.RETRY_BACKOFF, waited, retry_name=name)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrySucceeded(Event):
    """The retried call returned, on its first attempt or after retries.

    Integrations and :func:`telemetry.retry_succeeded` record first-attempt successes on
    pre-bound counters instead (no span event, no log line: they are the common case), so
    this event, when recorded, is nearly always a recovery worth an INFO line.
    """

    name: ClassVar[str] = "telemetry.retry.succeeded"
    level: ClassVar[int] = logging.INFO
    retry_name: str
    attempts: int
    waited: float = 0.0

    @property
    def outcome(self) -> str:
        return "success_first_attempt" if self.attempts <= 1 else "success_after_retry"

    def to_metrics(self, m: Instruments) -> None:
        _finished(m, self.retry_name, self.outcome, self.attempts, self.waited)

    def attributes(self) -> Attributes:
        return attr.present(
            {
                attr.RETRY_NAME: self.retry_name,
                attr.RETRY_ATTEMPTS: self.attempts,
                attr.RETRY_WAITED: self.waited,
                attr.RETRY_OUTCOME: self.outcome,
            }
        )

    def to_span(self, span: Span) -> None:
        # A first-attempt success is the common case: adding an event each time is noise.
        if self.attempts > 1:
            span.add_event(self.name, self.attributes())


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryExhausted(Event):
    """Every allowed attempt failed; the last error propagates to the caller."""

    name: ClassVar[str] = "telemetry.retry.exhausted"
    level: ClassVar[int] = logging.WARNING
    retry_name: str
    attempts: int
    waited: float = 0.0
    caused_by: BaseException | None = None

    def to_metrics(self, m: Instruments) -> None:
        _finished(m, self.retry_name, "exhausted", self.attempts, self.waited)

    def attributes(self) -> Attributes:
        return attr.present(
            {
                attr.RETRY_NAME: self.retry_name,
                attr.RETRY_ATTEMPTS: self.attempts,
                attr.RETRY_WAITED: self.waited,
                attr.ERROR_TYPE: error_type(self.caused_by),
            }
        )

    def to_span(self, span: Span) -> None:
        attributes = self.attributes()
        span.add_event(self.name, attributes)
        span.set_attribute(attr.ERROR_TYPE, attributes.get(attr.ERROR_TYPE, "_OTHER"))
        span.set_status(StatusCode.ERROR, "retries exhausted")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryAbandoned(Event):
    """An attempt failed with an error the policy does not retry; it propagates at once."""

    name: ClassVar[str] = "telemetry.retry.abandoned"
    level: ClassVar[int] = logging.INFO
    retry_name: str
    attempts: int
    waited: float = 0.0
    caused_by: BaseException | None = None

    def to_metrics(self, m: Instruments) -> None:
        _finished(m, self.retry_name, "not_retryable", self.attempts, self.waited)

    def attributes(self) -> Attributes:
        return attr.present(
            {
                attr.RETRY_NAME: self.retry_name,
                attr.RETRY_ATTEMPTS: self.attempts,
                attr.ERROR_TYPE: error_type(self.caused_by),
            }
        )
