"""Health-check, fallback and degraded-mode events."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from telemetry import attributes as attr
from telemetry import catalog
from telemetry.events._base import Attributes, Event
from telemetry.labels import error_type

if TYPE_CHECKING:
    from telemetry.metrics import Instruments

__all__ = [
    "DegradedModeEntered",
    "DegradedModeExited",
    "FallbackUsed",
    "HealthCheckFailed",
    "HealthCheckPassed",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthCheckPassed(Event):
    """A health check answered healthy within its timeout."""

    name: ClassVar[str] = "telemetry.health.check_passed"
    level: ClassVar[int] = logging.DEBUG
    check: str
    duration: float

    def to_metrics(self, m: Instruments) -> None:
        label = m.admit(catalog.CHECK, self.check)
        m.inc(catalog.HEALTH_CHECKS, check=label, outcome="success")
        m.observe(catalog.HEALTH_CHECK_DURATION, self.duration, check=label)

    def attributes(self) -> Attributes:
        return attr.present(
            {attr.HEALTH_CHECK: self.check, attr.HEALTH_OUTCOME: "success", attr.HEALTH_DURATION: self.duration}
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthCheckFailed(Event):
    """A health check raised, answered unhealthy, or timed out (``outcome="timeout"``)."""

    name: ClassVar[str] = "telemetry.health.check_failed"
    level: ClassVar[int] = logging.WARNING
    check: str
    duration: float
    timed_out: bool = False
    caused_by: BaseException | None = None

    @property
    def outcome(self) -> str:
        return "timeout" if self.timed_out else "failure"

    def to_metrics(self, m: Instruments) -> None:
        label = m.admit(catalog.CHECK, self.check)
        m.inc(catalog.HEALTH_CHECKS, check=label, outcome=self.outcome)
        m.observe(catalog.HEALTH_CHECK_DURATION, self.duration, check=label)

    def attributes(self) -> Attributes:
        return attr.present(
            {
                attr.HEALTH_CHECK: self.check,
                attr.HEALTH_OUTCOME: self.outcome,
                attr.HEALTH_DURATION: self.duration,
                attr.ERROR_TYPE: error_type(self.caused_by),
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FallbackUsed(Event):
    """A fallback answered instead of the primary path of ``operation``."""

    name: ClassVar[str] = "telemetry.fallback.used"
    level: ClassVar[int] = logging.WARNING
    operation: str
    reason: str
    caused_by: BaseException | None = None

    def to_metrics(self, m: Instruments) -> None:
        m.inc(
            catalog.FALLBACK_ACTIVATIONS,
            operation=m.admit(catalog.OPERATION, self.operation),
            reason=m.admit(catalog.FALLBACK_REASON, self.reason),
        )

    def attributes(self) -> Attributes:
        attributes: Attributes = {attr.FALLBACK_OPERATION: self.operation, attr.FALLBACK_REASON: self.reason}
        if self.caused_by is not None:
            attributes[attr.ERROR_TYPE] = error_type(self.caused_by)
        return attr.present(attributes)


@dataclass(frozen=True, slots=True, kw_only=True)
class DegradedModeEntered(Event):
    """``component`` started running in degraded mode."""

    name: ClassVar[str] = "telemetry.degraded.entered"
    level: ClassVar[int] = logging.WARNING
    component: str
    reason: str = ""

    def to_metrics(self, m: Instruments) -> None:
        m.set(catalog.DEGRADED, 1, component=m.admit(catalog.COMPONENT, self.component))

    def attributes(self) -> Attributes:
        return attr.present({attr.DEGRADED_COMPONENT: self.component, attr.DEGRADED_REASON: self.reason})


@dataclass(frozen=True, slots=True, kw_only=True)
class DegradedModeExited(Event):
    """``component`` is back to normal operation."""

    name: ClassVar[str] = "telemetry.degraded.exited"
    level: ClassVar[int] = logging.INFO
    component: str

    def to_metrics(self, m: Instruments) -> None:
        m.set(catalog.DEGRADED, 0, component=m.admit(catalog.COMPONENT, self.component))

    def attributes(self) -> Attributes:
        return attr.present({attr.DEGRADED_COMPONENT: self.component})
