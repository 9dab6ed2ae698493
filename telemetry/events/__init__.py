"""Resilience events: one frozen dataclass per fact, grouped by event source.

Import them from here (``from telemetry.events import RetryScheduled``); the submodules are
an implementation detail that keeps each source's vocabulary in one small file.
"""

from __future__ import annotations

from telemetry.events._base import Attributes, Event
from telemetry.events.breaker import (
    CircuitCallFailed,
    CircuitCallRejected,
    CircuitClosed,
    CircuitHalfOpened,
    CircuitOpened,
    CircuitStateChanged,
)
from telemetry.events.bulkhead import BulkheadCallRejected
from telemetry.events.dependency import DependencyCallFailed, DependencyCallSucceeded
from telemetry.events.dlq import (
    InvalidHeaderIgnored,
    MessageDeadLettered,
    MessageDuplicateSkipped,
    MessageProcessed,
    MessageRedriveFailed,
    MessageRedriven,
    MessageRetryScheduled,
)
from telemetry.events.health import (
    DegradedModeEntered,
    DegradedModeExited,
    FallbackUsed,
    HealthCheckFailed,
    HealthCheckPassed,
)
from telemetry.events.outbox import (
    OutboxEnqueued,
    OutboxMessageAbandoned,
    OutboxPolled,
    OutboxPublished,
    OutboxPublishFailed,
)
from telemetry.events.pool import (
    PoolConnectionGarbageCollected,
    PoolConnectionInvalidated,
    PoolExhausted,
    PoolTimedOut,
)
from telemetry.events.ratelimit import (
    RateLimitFallbackEntered,
    RateLimitFallbackExited,
    RateLimitRejected,
    RateLimitStorageFailed,
)
from telemetry.events.recovery import (
    RecoveryDependencyLost,
    RecoveryDependencyReturned,
    RecoveryRunCompleted,
    RecoveryRunCompletedWithFailures,
    RecoveryRunFailed,
    WorkParked,
)
from telemetry.events.retry import RetryAbandoned, RetryExhausted, RetryScheduled, RetrySucceeded
from telemetry.events.timeout import OperationTimedOut

__all__ = [
    "Attributes",
    "BulkheadCallRejected",
    "CircuitCallFailed",
    "CircuitCallRejected",
    "CircuitClosed",
    "CircuitHalfOpened",
    "CircuitOpened",
    "CircuitStateChanged",
    "DegradedModeEntered",
    "DegradedModeExited",
    "DependencyCallFailed",
    "DependencyCallSucceeded",
    "Event",
    "FallbackUsed",
    "HealthCheckFailed",
    "HealthCheckPassed",
    "InvalidHeaderIgnored",
    "MessageDeadLettered",
    "MessageDuplicateSkipped",
    "MessageProcessed",
    "MessageRedriveFailed",
    "MessageRedriven",
    "MessageRetryScheduled",
    "OperationTimedOut",
    "OutboxEnqueued",
    "OutboxMessageAbandoned",
    "OutboxPolled",
    "OutboxPublishFailed",
    "OutboxPublished",
    "PoolConnectionGarbageCollected",
    "PoolConnectionInvalidated",
    "PoolExhausted",
    "PoolTimedOut",
    "RateLimitFallbackEntered",
    "RateLimitFallbackExited",
    "RateLimitRejected",
    "RateLimitStorageFailed",
    "RecoveryDependencyLost",
    "RecoveryDependencyReturned",
    "RecoveryRunCompleted",
    "RecoveryRunCompletedWithFailures",
    "RecoveryRunFailed",
    "RetryAbandoned",
    "RetryExhausted",
    "RetryScheduled",
    "RetrySucceeded",
    "WorkParked",
]
