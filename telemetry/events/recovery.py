"""Recovery-job events: work parked while a dependency is down, the dependency going and
coming back, and the runs that drain the parked work.

Seed 003's case is the model: deposits are parked in status ``PENDING_NETWORK_RECOVERY`` while
the blockchain network is unreachable, and processed in batches once it returns. How many items
are parked now, and the oldest one's age, are not events: a scrape-time collector reads them
from the service's own table (:mod:`telemetry.recovery`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from opentelemetry.trace import StatusCode

from telemetry import catalog
from telemetry.events._base import Attributes, Event
from telemetry.labels import error_type

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from telemetry.metrics import Instruments

__all__ = [
    "RecoveryDependencyLost",
    "RecoveryDependencyReturned",
    "RecoveryRunCompleted",
    "RecoveryRunCompletedWithFailures",
    "RecoveryRunFailed",
    "RecoveryRunFinished",
    "WorkParked",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkParked(Event):
    """``count`` items were parked for later recovery (``reason`` a short bounded word)."""

    name: ClassVar[str] = "telemetry.recovery.parked"
    level: ClassVar[int] = logging.INFO
    recovery: str
    count: int = 1
    reason: str = ""

    def to_metrics(self, m: Instruments) -> None:
        m.inc(catalog.RECOVERY_PARKED, m.admit(catalog.RECOVERY_NAME, self.recovery), amount=self.count)

    def attributes(self) -> Attributes:
        return {"recovery.name": self.recovery, "recovery.parked": self.count, "recovery.reason": self.reason}


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryDependencyLost(Event):
    """The dependency the parked work waits for became unavailable."""

    name: ClassVar[str] = "telemetry.recovery.dependency_lost"
    level: ClassVar[int] = logging.WARNING
    recovery: str
    dependency: str = ""

    def to_metrics(self, m: Instruments) -> None:
        m.set(catalog.RECOVERY_DEPENDENCY_AVAILABLE, 0, m.admit(catalog.RECOVERY_NAME, self.recovery))

    def attributes(self) -> Attributes:
        return {"recovery.name": self.recovery, "recovery.dependency": self.dependency}


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryDependencyReturned(Event):
    """The dependency is back: the trigger for draining the parked work."""

    name: ClassVar[str] = "telemetry.recovery.dependency_returned"
    level: ClassVar[int] = logging.INFO
    recovery: str
    dependency: str = ""
    at: float = field(default_factory=time.time)  # Unix time of the return

    def to_metrics(self, m: Instruments) -> None:
        label = m.admit(catalog.RECOVERY_NAME, self.recovery)
        m.set(catalog.RECOVERY_DEPENDENCY_AVAILABLE, 1, label)
        m.set(catalog.RECOVERY_DEPENDENCY_RETURNED, self.at, label)
        m.inc(catalog.RECOVERY_DEPENDENCY_RETURNS, label)

    def attributes(self) -> Attributes:
        return {"recovery.name": self.recovery, "recovery.dependency": self.dependency}


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryRunFinished(Event):
    """A recovery run ended; one class per outcome, so each has its own log level."""

    outcome: ClassVar[str]
    recovery: str
    recovered: int = 0
    failed: int = 0
    duration: float = 0.0

    def to_metrics(self, m: Instruments) -> None:
        label = m.admit(catalog.RECOVERY_NAME, self.recovery)
        m.inc(catalog.RECOVERY_RUNS, label, self.outcome)
        if self.recovered:
            m.inc(catalog.RECOVERY_ITEMS, label, "recovered", amount=self.recovered)
        if self.failed:
            m.inc(catalog.RECOVERY_ITEMS, label, "failed", amount=self.failed)
        m.observe(catalog.RECOVERY_RUN_DURATION, self.duration, label)

    def attributes(self) -> Attributes:
        return {
            "recovery.name": self.recovery,
            "recovery.outcome": self.outcome,
            "recovery.recovered": self.recovered,
            "recovery.failed": self.failed,
            "recovery.duration_s": round(self.duration, 6),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryRunCompleted(RecoveryRunFinished):
    """Every item the run handled was recovered."""

    name: ClassVar[str] = "telemetry.recovery.run_completed"
    level: ClassVar[int] = logging.INFO
    outcome: ClassVar[str] = "success"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryRunCompletedWithFailures(RecoveryRunFinished):
    """The run finished but ``failed`` items could not be recovered (they stay parked)."""

    name: ClassVar[str] = "telemetry.recovery.run_partially_failed"
    level: ClassVar[int] = logging.WARNING
    outcome: ClassVar[str] = "partial"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryRunFailed(RecoveryRunFinished):
    """The run itself failed (it raised); the items it had not reached stay parked."""

    name: ClassVar[str] = "telemetry.recovery.run_failed"
    level: ClassVar[int] = logging.ERROR
    outcome: ClassVar[str] = "failure"
    caused_by: BaseException | None = None

    def attributes(self) -> Attributes:
        attributes = RecoveryRunFinished.attributes(self)
        attributes["error.type"] = error_type(self.caused_by)
        return attributes

    def to_span(self, span: Span) -> None:
        span.add_event(self.name, self.attributes())
        # Span attributes too: trace searches (the alert's link) filter on span.<attribute>.
        span.set_attribute("recovery.name", self.recovery)
        span.set_attribute("error.type", error_type(self.caused_by))
        span.set_status(StatusCode.ERROR, "recovery run failed")
