"""Dependency-call events: one per operation on a downstream service (S3 and others).

An operation is what the caller asked for (``PutObject``), the client library's own retries
included; ``retries`` says how many of those it made. Bucket names, object keys and error
messages never become labels or attributes: only the service, the operation, the outcome and
the bounded ``error.type`` (an AWS error code such as ``NoSuchKey`` or an exception class).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from telemetry import attributes as attr
from telemetry import catalog
from telemetry.events._base import Attributes, Event

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from telemetry.metrics import Instruments

__all__ = ["DependencyCallFailed", "DependencyCallSucceeded"]


@dataclass(frozen=True, slots=True, kw_only=True)
class _DependencyCall(Event):
    dependency: str
    operation: str
    duration: float
    retries: int = 0
    status_code: int | None = None

    @property
    def outcome(self) -> str:
        return "success"

    def to_metrics(self, m: Instruments) -> None:
        dependency = m.admit(catalog.DEPENDENCY, self.dependency)
        operation = m.admit(catalog.OPERATION, self.operation)
        m.inc(catalog.DEPENDENCY_OPERATIONS, dependency=dependency, operation=operation, outcome=self.outcome)
        m.observe(catalog.DEPENDENCY_DURATION, self.duration, dependency=dependency, operation=operation)
        if self.retries > 0:
            m.inc(catalog.DEPENDENCY_CLIENT_RETRIES, dependency=dependency, operation=operation, amount=self.retries)

    def attributes(self) -> Attributes:
        attributes: Attributes = {
            attr.DEPENDENCY_NAME: self.dependency,
            attr.DEPENDENCY_OPERATION: self.operation,
            attr.DEPENDENCY_OUTCOME: self.outcome,
            attr.DEPENDENCY_DURATION: round(self.duration, 6),
            attr.DEPENDENCY_CLIENT_RETRIES: self.retries,
        }
        if self.status_code is not None:
            attributes[attr.HTTP_RESPONSE_STATUS_CODE] = self.status_code
        return attr.present(attributes)


@dataclass(frozen=True, slots=True, kw_only=True)
class DependencyCallSucceeded(_DependencyCall):
    """The operation returned a 2xx answer, possibly after the client's own retries."""

    name: ClassVar[str] = "telemetry.dependency.succeeded"
    level: ClassVar[int] = logging.DEBUG

    def to_span(self, span: Span) -> None:
        # Success on the first attempt is the common case; only a retried success is news.
        if self.retries > 0:
            span.add_event(self.name, self.attributes())


@dataclass(frozen=True, slots=True, kw_only=True)
class DependencyCallFailed(_DependencyCall):
    """The operation failed after the client's retries; the error propagates to the caller.

    ``outcome`` is one of ``client_error``, ``server_error``, ``throttled``,
    ``connection_error`` and ``timeout``. Logged at INFO, since some client errors (a 404 on
    ``HeadObject``) are business as usual; raise it with ``log_levels`` if you want.
    """

    name: ClassVar[str] = "telemetry.dependency.failed"
    level: ClassVar[int] = logging.INFO
    failure: str
    error: str = ""

    @property
    def outcome(self) -> str:
        return self.failure

    def attributes(self) -> Attributes:
        attributes = _DependencyCall.attributes(self)
        attributes[attr.ERROR_TYPE] = self.error
        return attr.present(attributes)
