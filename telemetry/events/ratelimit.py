"""Rate-limiter events: rejected requests, storage failures, and the switch to the fallback.

Admitted requests have no event: they are the hot path and are counted on a pre-bound child
by :meth:`telemetry.ratelimit.RateLimiter.admitted`. Client keys (addresses, user IDs, API
keys) never appear here, not even as attributes: a limit is named by what it limits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from telemetry import catalog
from telemetry.events._base import Attributes, Event
from telemetry.labels import error_type

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from telemetry.metrics import Instruments

__all__ = ["RateLimitFallbackEntered", "RateLimitFallbackExited", "RateLimitRejected", "RateLimitStorageFailed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitRejected(Event):
    """``limiter`` refused a request under ``limit``; ``rule`` is the limit as written
    (``5 per 1 minute``), ``retry_after`` the seconds the client was told to wait.

    Logged at INFO: rejections are the limiter doing its job; the ratio alert says when they
    become a problem, and ``log_levels`` can silence the line under a flood.
    """

    name: ClassVar[str] = "telemetry.ratelimit.rejected"
    level: ClassVar[int] = logging.INFO
    limiter: str
    limit: str
    rule: str = ""
    retry_after: float | None = None

    def to_metrics(self, m: Instruments) -> None:
        m.inc(
            catalog.RATELIMIT_DECISIONS,
            m.admit(catalog.RATELIMIT_LIMITER, self.limiter),
            m.admit(catalog.RATELIMIT_LIMIT, self.limit),
            "rejected",
        )

    def attributes(self) -> Attributes:
        attributes: Attributes = {
            "ratelimit.limiter": self.limiter,
            "ratelimit.limit": self.limit,
            "ratelimit.rule": self.rule,
        }
        if self.retry_after is not None:
            attributes["ratelimit.retry_after_s"] = self.retry_after
        return attributes

    def to_span(self, span: Span) -> None:
        span.add_event(self.name, self.attributes())
        # Span attributes too: trace searches (the alert's link) filter on span.<attribute>.
        span.set_attribute("ratelimit.limiter", self.limiter)
        span.set_attribute("ratelimit.limit", self.limit)


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitStorageFailed(Event):
    """The limiter's own storage (Redis) failed a read or write."""

    name: ClassVar[str] = "telemetry.ratelimit.storage_failed"
    level: ClassVar[int] = logging.WARNING
    limiter: str
    caused_by: BaseException | None = None

    def to_metrics(self, m: Instruments) -> None:
        m.inc(
            catalog.RATELIMIT_STORAGE_ERRORS,
            m.admit(catalog.RATELIMIT_LIMITER, self.limiter),
            m.admit(catalog.ERROR_TYPE, error_type(self.caused_by)),
        )

    def attributes(self) -> Attributes:
        return {"ratelimit.limiter": self.limiter, "error.type": error_type(self.caused_by)}


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitFallbackEntered(Event):
    """The limiter switched to its fallback (seed 003: per-process counters while Redis is
    down). Limits are then enforced per process, so a service with N workers admits up to N
    times the limit: WARNING."""

    name: ClassVar[str] = "telemetry.ratelimit.fallback_entered"
    level: ClassVar[int] = logging.WARNING
    limiter: str
    caused_by: BaseException | None = None

    def to_metrics(self, m: Instruments) -> None:
        limiter = m.admit(catalog.RATELIMIT_LIMITER, self.limiter)
        m.set(catalog.RATELIMIT_FALLBACK_ACTIVE, 1, limiter)
        m.inc(catalog.RATELIMIT_FALLBACK_ACTIVATIONS, limiter)

    def attributes(self) -> Attributes:
        attributes: Attributes = {"ratelimit.limiter": self.limiter}
        if self.caused_by is not None:
            attributes["error.type"] = error_type(self.caused_by)
        return attributes


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitFallbackExited(Event):
    """The limiter's storage is back and the limiter uses it again."""

    name: ClassVar[str] = "telemetry.ratelimit.fallback_exited"
    level: ClassVar[int] = logging.INFO
    limiter: str

    def to_metrics(self, m: Instruments) -> None:
        m.set(catalog.RATELIMIT_FALLBACK_ACTIVE, 0, m.admit(catalog.RATELIMIT_LIMITER, self.limiter))

    def attributes(self) -> Attributes:
        return {"ratelimit.limiter": self.limiter}
