"""Every span attribute (and span-event attribute) name the package sets, in one place.

OpenTelemetry semantic-convention attributes are used verbatim (``error.type``,
``messaging.*``, ``db.client.connection.pool.name``); everything else the package invents lives
under the one project namespace :data:`NAMESPACE`, so nothing of ours squats inside a semconv
namespace (where a later convention could give the same key another meaning). Collector
sampling policies, the alerts' TraceQL links and the Grafana datasource mappings are tested
against the names defined here, so renaming one here is the whole change.

The same keys are the structured fields of the event's log line, so a log backend and a trace
backend filter on the same names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Mapping

    from opentelemetry.util.types import AttributeValue

__all__ = [
    "BREAKER_FROM_STATE",
    "BREAKER_NAME",
    "BREAKER_STATE",
    "BULKHEAD_IN_FLIGHT",
    "BULKHEAD_LIMIT",
    "BULKHEAD_NAME",
    "BULKHEAD_REASON",
    "BULKHEAD_WAITED",
    "CONSUMER_ATTEMPT",
    "CONSUMER_HEADER",
    "CONSUMER_MAX_ATTEMPTS",
    "CORRELATION_ID",
    "DB_CLIENT_CONNECTION_POOL_NAME",
    "DEGRADED_COMPONENT",
    "DEGRADED_REASON",
    "DEPENDENCY_CLIENT_RETRIES",
    "DEPENDENCY_DURATION",
    "DEPENDENCY_NAME",
    "DEPENDENCY_OPERATION",
    "DEPENDENCY_OUTCOME",
    "DLQ_BY",
    "DLQ_DEATHS",
    "DLQ_NAME",
    "DLQ_REASON",
    "ERROR_TYPE",
    "FALLBACK_OPERATION",
    "FALLBACK_REASON",
    "HEALTH_CHECK",
    "HEALTH_DURATION",
    "HEALTH_OUTCOME",
    "HTTP_REQUEST_METHOD",
    "HTTP_RESPONSE_STATUS_CODE",
    "HTTP_ROUTE",
    "HTTP_SERVER_SPAN_ATTRIBUTES",
    "LINK_KIND",
    "MESSAGING_DESTINATION_NAME",
    "MESSAGING_MESSAGE_CONVERSATION_ID",
    "MESSAGING_MESSAGE_ID",
    "MESSAGING_OPERATION_NAME",
    "MESSAGING_OPERATION_TYPE",
    "MESSAGING_SYSTEM",
    "NAMESPACE",
    "OUTBOX_ATTEMPT",
    "OUTBOX_CLAIMED",
    "OUTBOX_DELIVERY_LAG",
    "OUTBOX_HEALTHY",
    "OUTBOX_OUTCOME",
    "OUTBOX_PUBLISHED",
    "OUTBOX_RETRY_IN",
    "POOL_CHECKED_OUT",
    "POOL_INVALIDATION",
    "POOL_MAX_OVERFLOW",
    "POOL_OVERFLOW",
    "POOL_SIZE",
    "POOL_TIMEOUT",
    "POOL_WAITED",
    "RATELIMIT_LIMIT",
    "RATELIMIT_LIMITER",
    "RATELIMIT_RETRY_AFTER",
    "RATELIMIT_RULE",
    "RECOVERY_DEPENDENCY",
    "RECOVERY_DURATION",
    "RECOVERY_FAILED",
    "RECOVERY_NAME",
    "RECOVERY_OUTCOME",
    "RECOVERY_PARKED",
    "RECOVERY_REASON",
    "RECOVERY_RECOVERED",
    "RETRY_ATTEMPT",
    "RETRY_ATTEMPTS",
    "RETRY_DELAY",
    "RETRY_NAME",
    "RETRY_OUTCOME",
    "RETRY_WAITED",
    "SPAN_ATTRIBUTES",
    "TIMEOUT_BUDGET",
    "TIMEOUT_ELAPSED",
    "TIMEOUT_OPERATION",
    "TRACEQL_BY_LABEL",
    "URL_PATH",
    "URL_SCHEME",
    "emitted",
    "present",
    "project_names",
]

NAMESPACE: Final = "resilience."

# OpenTelemetry semantic conventions, verbatim.
ERROR_TYPE: Final = "error.type"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
DB_CLIENT_CONNECTION_POOL_NAME: Final = "db.client.connection.pool.name"
MESSAGING_SYSTEM: Final = "messaging.system"
MESSAGING_DESTINATION_NAME: Final = "messaging.destination.name"
MESSAGING_OPERATION_TYPE: Final = "messaging.operation.type"
MESSAGING_OPERATION_NAME: Final = "messaging.operation.name"
MESSAGING_MESSAGE_ID: Final = "messaging.message.id"
MESSAGING_MESSAGE_CONVERSATION_ID: Final = "messaging.message.conversation_id"

# The server span's stable HTTP names (set by OpenTelemetry's ASGI instrumentation once
# setup() opted in with OTEL_SEMCONV_STABILITY_OPT_IN=http; the HTTP metric uses the same).
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_ROUTE: Final = "http.route"
URL_SCHEME: Final = "url.scheme"
URL_PATH: Final = "url.path"
HTTP_SERVER_SPAN_ATTRIBUTES: Final = frozenset(
    {HTTP_REQUEST_METHOD, HTTP_ROUTE, HTTP_RESPONSE_STATUS_CODE, URL_SCHEME, URL_PATH}
)

# The project's own names.
CORRELATION_ID: Final = "resilience.correlation_id"
LINK_KIND: Final = "resilience.link.kind"  # on span links: "creation" or "publish"

BREAKER_NAME: Final = "resilience.breaker.name"
BREAKER_STATE: Final = "resilience.breaker.state"
BREAKER_FROM_STATE: Final = "resilience.breaker.from_state"

RETRY_NAME: Final = "resilience.retry.name"
RETRY_ATTEMPT: Final = "resilience.retry.attempt"
RETRY_ATTEMPTS: Final = "resilience.retry.attempts"
RETRY_DELAY: Final = "resilience.retry.delay_s"
RETRY_WAITED: Final = "resilience.retry.waited_s"
RETRY_OUTCOME: Final = "resilience.retry.outcome"

POOL_SIZE: Final = "resilience.pool.size"
POOL_MAX_OVERFLOW: Final = "resilience.pool.max_overflow"
POOL_OVERFLOW: Final = "resilience.pool.overflow"
POOL_CHECKED_OUT: Final = "resilience.pool.checked_out"
POOL_WAITED: Final = "resilience.pool.waited_s"
POOL_TIMEOUT: Final = "resilience.pool.timeout_s"
POOL_INVALIDATION: Final = "resilience.pool.invalidation"

DEPENDENCY_NAME: Final = "resilience.dependency.name"
DEPENDENCY_OPERATION: Final = "resilience.dependency.operation"
DEPENDENCY_OUTCOME: Final = "resilience.dependency.outcome"
DEPENDENCY_DURATION: Final = "resilience.dependency.duration_s"
DEPENDENCY_CLIENT_RETRIES: Final = "resilience.dependency.client_retries"

HEALTH_CHECK: Final = "resilience.health.check"
HEALTH_OUTCOME: Final = "resilience.health.outcome"
HEALTH_DURATION: Final = "resilience.health.duration_s"

FALLBACK_OPERATION: Final = "resilience.fallback.operation"
FALLBACK_REASON: Final = "resilience.fallback.reason"
DEGRADED_COMPONENT: Final = "resilience.degraded.component"
DEGRADED_REASON: Final = "resilience.degraded.reason"

OUTBOX_ATTEMPT: Final = "resilience.outbox.attempt"
OUTBOX_DELIVERY_LAG: Final = "resilience.outbox.delivery_lag_s"
OUTBOX_RETRY_IN: Final = "resilience.outbox.retry_in_s"
OUTBOX_OUTCOME: Final = "resilience.outbox.outcome"
OUTBOX_CLAIMED: Final = "resilience.outbox.claimed"
OUTBOX_PUBLISHED: Final = "resilience.outbox.published"
OUTBOX_HEALTHY: Final = "resilience.outbox.healthy"

CONSUMER_ATTEMPT: Final = "resilience.consumer.attempt"
CONSUMER_MAX_ATTEMPTS: Final = "resilience.consumer.max_attempts"
CONSUMER_HEADER: Final = "resilience.consumer.header"

DLQ_NAME: Final = "resilience.dlq.name"
DLQ_REASON: Final = "resilience.dlq.reason"
DLQ_BY: Final = "resilience.dlq.by"
DLQ_DEATHS: Final = "resilience.dlq.deaths"

# Timeouts, rate limiters, bulkheads and recovery jobs.
TIMEOUT_OPERATION: Final = "resilience.timeout.operation"
TIMEOUT_BUDGET: Final = "resilience.timeout.budget_s"
TIMEOUT_ELAPSED: Final = "resilience.timeout.elapsed_s"
RATELIMIT_LIMITER: Final = "resilience.ratelimit.limiter"
RATELIMIT_LIMIT: Final = "resilience.ratelimit.limit"
RATELIMIT_RULE: Final = "resilience.ratelimit.rule"
RATELIMIT_RETRY_AFTER: Final = "resilience.ratelimit.retry_after_s"
BULKHEAD_NAME: Final = "resilience.bulkhead.name"
BULKHEAD_LIMIT: Final = "resilience.bulkhead.limit"
BULKHEAD_IN_FLIGHT: Final = "resilience.bulkhead.in_flight"
BULKHEAD_REASON: Final = "resilience.bulkhead.reason"
BULKHEAD_WAITED: Final = "resilience.bulkhead.waited_s"
RECOVERY_NAME: Final = "resilience.recovery.name"
RECOVERY_PARKED: Final = "resilience.recovery.parked"
RECOVERY_REASON: Final = "resilience.recovery.reason"
RECOVERY_DEPENDENCY: Final = "resilience.recovery.dependency"
RECOVERY_OUTCOME: Final = "resilience.recovery.outcome"
RECOVERY_RECOVERED: Final = "resilience.recovery.recovered"
RECOVERY_FAILED: Final = "resilience.recovery.failed"
RECOVERY_DURATION: Final = "resilience.recovery.duration_s"

# Names set on the span itself (``span.`` in TraceQL), as opposed to only on span events
# (``event.`` in TraceQL): a TraceQL filter has to use the scope the name really lives in.
SPAN_ATTRIBUTES: Final = HTTP_SERVER_SPAN_ATTRIBUTES | frozenset(
    {
        ERROR_TYPE,
        CORRELATION_ID,
        BREAKER_NAME,
        BREAKER_STATE,
        MESSAGING_SYSTEM,
        MESSAGING_DESTINATION_NAME,
        MESSAGING_OPERATION_TYPE,
        MESSAGING_OPERATION_NAME,
        MESSAGING_MESSAGE_ID,
        MESSAGING_MESSAGE_CONVERSATION_ID,
        CONSUMER_ATTEMPT,
        OUTBOX_ATTEMPT,
        DLQ_DEATHS,
        HEALTH_CHECK,
        TIMEOUT_OPERATION,
        RATELIMIT_LIMITER,
        RATELIMIT_LIMIT,
        BULKHEAD_NAME,
        RECOVERY_NAME,
    }
)

# The TraceQL selector that finds the traces of the object a catalog label names, keyed by the
# catalog label's (OTel) name: what the alerts' trace-search links filter on.
TRACEQL_BY_LABEL: Final[Mapping[str, str]] = {
    "breaker.name": f"span.{BREAKER_NAME}",
    "retry.name": f"event.{RETRY_NAME}",
    "dependency": f"event.{DEPENDENCY_NAME}",
    "check": f"span.{HEALTH_CHECK}",
    "queue": f"span.{MESSAGING_DESTINATION_NAME}",
    "messaging.destination.name": f"span.{MESSAGING_DESTINATION_NAME}",
    "db.client.connection.pool.name": f"event.{DB_CLIENT_CONNECTION_POOL_NAME}",
    "timeout.operation": f"span.{TIMEOUT_OPERATION}",
    "ratelimit.limit": f"span.{RATELIMIT_LIMIT}",
    "bulkhead.name": f"span.{BULKHEAD_NAME}",
    "recovery.name": f"span.{RECOVERY_NAME}",
}


def present(attributes: Mapping[str, AttributeValue | None]) -> dict[str, AttributeValue]:
    """``attributes`` without empty values: an unknown message ID or a missing error type is
    left out rather than sent as ``""``, which a backend would index as a real value."""
    return {key: value for key, value in attributes.items() if value is not None and value != ""}


def emitted() -> frozenset[str]:
    """Every attribute name defined above: what the package (and the instrumentation it
    configures) puts on spans, span events and log lines. The config checks read this."""
    return frozenset(v for k, v in globals().items() if k.isupper() and k != "NAMESPACE" and isinstance(v, str))


def project_names() -> frozenset[str]:
    """The project-namespaced names among :func:`emitted`."""
    return frozenset(name for name in emitted() if name.startswith(NAMESPACE))
