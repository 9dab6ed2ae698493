"""The metric catalog: the single source of truth for every metric this package emits.

Code creates instruments only from these specs; the alert rules, the dashboards and the
metric table in ``docs/metrics.md`` read names from here, never from string literals. Each
spec carries the OpenTelemetry name (semantic-convention names verbatim where one exists,
``resilience.*`` elsewhere); the Prometheus name is derived by :func:`prometheus_name`, which
follows the OpenTelemetry-to-Prometheus compatibility rules, so both worlds agree.

Labels are closed sets where the domain allows (``outcome``, ``state``); open ones (breaker
names, pool names, ``error.type``) are bounded at record time by :mod:`telemetry.labels`.
Correlation IDs, trace IDs, message IDs and exception messages are never labels.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "CATALOG",
    "Kind",
    "Label",
    "MetricSpec",
    "by_name",
    "prometheus_label",
    "prometheus_name",
]


class Kind(enum.Enum):
    """How a metric aggregates; decides the Prometheus type and the ``_total`` suffix."""

    COUNTER = "counter"
    HISTOGRAM = "histogram"
    GAUGE = "gauge"
    UPDOWN = "updowncounter"  # a non-monotonic sum: a Prometheus gauge


@dataclass(frozen=True, slots=True)
class Label:
    """A metric attribute. ``values`` is the closed value set, or ``None`` when the set is
    open and bounded at record time (see :mod:`telemetry.labels`)."""

    name: str
    values: tuple[str, ...] | None = None
    description: str = ""

    @property
    def prom(self) -> str:
        return prometheus_label(self.name)


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class MetricSpec:
    """One metric. ``scrape_time`` marks values read when Prometheus scrapes (custom
    collectors) rather than updated on each event; ``exempt`` names why a metric is used by
    neither a rule nor a panel (the catalog test demands a reason).

    Specs compare and hash by identity (``eq=False``): each is a module constant, and the hot
    path looks children up by spec, where hashing every field would cost a microsecond.
    """

    name: str
    kind: Kind
    unit: str
    description: str
    labels: tuple[Label, ...] = ()
    buckets: tuple[float, ...] | None = None
    source: str
    scrape_time: bool = False
    exempt: str | None = None
    prom: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "prom", prometheus_name(self.name, self.unit, self.kind))

    @property
    def label_names(self) -> tuple[str, ...]:
        """Prometheus label names, in declaration order."""
        return tuple(label.prom for label in self.labels)

    @property
    def series_names(self) -> tuple[str, ...]:
        """Every series name this metric produces in the Prometheus exposition."""
        if self.kind is Kind.HISTOGRAM:
            return (f"{self.prom}_bucket", f"{self.prom}_sum", f"{self.prom}_count")
        return (self.prom,)


_UNIT_WORDS: Final = {
    "s": "seconds",
    "ms": "milliseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "%": "percent",
}
_INVALID = re.compile(r"[^a-zA-Z0-9_:]+")


def prometheus_label(name: str) -> str:
    """``db.client.connection.pool.name`` -> ``db_client_connection_pool_name``."""
    return _INVALID.sub("_", name).strip("_")


def prometheus_name(name: str, unit: str, kind: Kind) -> str:
    """Derive the Prometheus metric name the way OpenTelemetry's Prometheus rules do.

    Invalid characters become ``_``; units in braces (annotations such as ``{connection}``)
    are dropped; known units become words appended once (``_seconds``); ``1`` on a gauge
    becomes ``_ratio``; monotonic counters end in ``_total``.
    """
    base = _INVALID.sub("_", name).strip("_")
    suffix = ""
    if unit == "1":
        suffix = "ratio" if kind is Kind.GAUGE else ""
    elif not (unit.startswith("{") and unit.endswith("}")):
        suffix = _UNIT_WORDS.get(unit, _INVALID.sub("_", unit).strip("_"))
    if suffix and not base.endswith(f"_{suffix}"):
        base = f"{base}_{suffix}"
    if kind is Kind.COUNTER and not base.endswith("_total"):
        base = f"{base}_total"
    return base


# --- label vocabulary -------------------------------------------------------------------
ERROR_TYPE: Final = Label("error.type", None, "exception class name, bounded; `_OTHER` past the cap")
RETRY_NAME: Final = Label("retry.name", None, "the retried operation (function or configured name)")
BREAKER_NAME: Final = Label("breaker.name", None, "the circuit breaker's name")
BREAKER_STATES: Final = ("closed", "open", "half_open")
BREAKER_STATE: Final = Label("state", BREAKER_STATES, "circuit state")
POOL_NAME: Final = Label(
    "db.client.connection.pool.name", None, "the pool (engine URL without credentials, or a given name)"
)
DEPENDENCY: Final = Label("dependency", None, "the downstream dependency, e.g. `s3`")
OPERATION: Final = Label("operation", None, "the dependency operation, e.g. `PutObject`")
DESTINATION: Final = Label("messaging.destination.name", None, "exchange or queue")
QUEUE: Final = Label("queue", None, "the queue (DLQ or work queue)")
CHECK: Final = Label("check", None, "the health check's name")
COMPONENT: Final = Label("component", None, "the degraded component")

_LATENCY_BUCKETS: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
_LAG_BUCKETS: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
_BACKOFF_BUCKETS: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_ATTEMPT_BUCKETS: Final = (1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0, 15.0, 20.0)
_BATCH_BUCKETS: Final = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0)

# --- HTTP server (semantic conventions) --------------------------------------------------
HTTP_SERVER_REQUEST_DURATION: Final = MetricSpec(
    name="http.server.request.duration",
    kind=Kind.HISTOGRAM,
    unit="s",
    description="Duration of HTTP server requests, by route template and status code.",
    labels=(
        Label("http.request.method", None, "HTTP method, `_OTHER` for non-standard ones"),
        Label("http.route", None, "the route template, never the raw path"),
        Label("http.response.status_code", None, "the response status code"),
    ),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0),
    source="http",
)

# --- retry -------------------------------------------------------------------------------
RETRY_OUTCOMES: Final = ("success_first_attempt", "success_after_retry", "exhausted", "not_retryable")
RETRY_CALLS: Final = MetricSpec(
    name="resilience.retry.calls",
    kind=Kind.COUNTER,
    unit="{call}",
    description="Retried calls by final outcome.",
    labels=(RETRY_NAME, Label("outcome", RETRY_OUTCOMES, "the call's final outcome")),
    source="retry",
)
RETRY_ATTEMPTS: Final = MetricSpec(
    name="resilience.retry.attempts",
    kind=Kind.COUNTER,
    unit="{attempt}",
    description="Attempts made, first attempts included; attempts / calls is the amplification.",
    labels=(RETRY_NAME,),
    source="retry",
)
RETRY_SCHEDULED: Final = MetricSpec(
    name="resilience.retry.scheduled",
    kind=Kind.COUNTER,
    unit="{retry}",
    description="Retries scheduled after a failed attempt, by the error that caused them.",
    labels=(RETRY_NAME, ERROR_TYPE),
    source="retry",
)
RETRY_ATTEMPTS_PER_CALL: Final = MetricSpec(
    name="resilience.retry.attempts_per_call",
    kind=Kind.HISTOGRAM,
    unit="{attempt}",
    description="Attempts a call needed before it finished; first-attempt successes are not observed.",
    labels=(RETRY_NAME,),
    buckets=_ATTEMPT_BUCKETS,
    source="retry",
)
RETRY_BACKOFF: Final = MetricSpec(
    name="resilience.retry.backoff",
    kind=Kind.HISTOGRAM,
    unit="s",
    description="Total time a retried call spent sleeping between attempts (first-attempt results are not observed).",
    labels=(RETRY_NAME,),
    buckets=_BACKOFF_BUCKETS,
    source="retry",
)

# --- circuit breaker ---------------------------------------------------------------------
CIRCUIT_STATE: Final = MetricSpec(
    name="resilience.circuit.state",
    kind=Kind.GAUGE,
    unit="{state}",
    description="One-hot circuit state: 1 for the current state, 0 for the others.",
    labels=(BREAKER_NAME, BREAKER_STATE),
    source="breaker",
    scrape_time=True,
)
CIRCUIT_TIME_IN_STATE: Final = MetricSpec(
    name="resilience.circuit.time_in_state",
    kind=Kind.COUNTER,
    unit="s",
    description="Cumulative time spent in each state, read at scrape time so short opens show.",
    labels=(BREAKER_NAME, BREAKER_STATE),
    source="breaker",
    scrape_time=True,
)
CIRCUIT_TRANSITIONS: Final = MetricSpec(
    name="resilience.circuit.transitions",
    kind=Kind.COUNTER,
    unit="{transition}",
    description="State transitions, by the state left and the state entered.",
    labels=(
        BREAKER_NAME,
        Label("from_state", BREAKER_STATES, "the state left"),
        Label("to_state", BREAKER_STATES, "the state entered"),
    ),
    source="breaker",
)
CIRCUIT_CALLS: Final = MetricSpec(
    name="resilience.circuit.calls",
    kind=Kind.COUNTER,
    unit="{call}",
    description="Calls through a breaker by outcome; rejected calls never reached the dependency.",
    labels=(BREAKER_NAME, Label("outcome", ("success", "failure", "rejected"), "call outcome")),
    source="breaker",
)

# --- connection pool (semantic conventions, verbatim) -------------------------------------
DB_CLIENT_CONNECTION_COUNT: Final = MetricSpec(
    name="db.client.connection.count",
    kind=Kind.UPDOWN,
    unit="{connection}",
    description="Connections currently in the pool, by state.",
    labels=(POOL_NAME, Label("db.client.connection.state", ("idle", "used"), "connection state")),
    source="pool",
    scrape_time=True,
)
DB_CLIENT_CONNECTION_MAX: Final = MetricSpec(
    name="db.client.connection.max",
    kind=Kind.UPDOWN,
    unit="{connection}",
    description="The most open connections the pool allows (pool_size + max_overflow).",
    labels=(POOL_NAME,),
    source="pool",
    scrape_time=True,
)
DB_CLIENT_CONNECTION_IDLE_MAX: Final = MetricSpec(
    name="db.client.connection.idle.max",
    kind=Kind.UPDOWN,
    unit="{connection}",
    description="The most idle connections the pool keeps (pool_size).",
    labels=(POOL_NAME,),
    source="pool",
    scrape_time=True,
    exempt="configuration context shown in the pool runbook, not an alerting signal",
)
DB_CLIENT_CONNECTION_PENDING_REQUESTS: Final = MetricSpec(
    name="db.client.connection.pending_requests",
    kind=Kind.UPDOWN,
    unit="{request}",
    description="Checkouts currently waiting for a connection.",
    labels=(POOL_NAME,),
    source="pool",
)
DB_CLIENT_CONNECTION_TIMEOUTS: Final = MetricSpec(
    name="db.client.connection.timeouts",
    kind=Kind.COUNTER,
    unit="{timeout}",
    description="Checkouts that gave up waiting for a connection (pool timeout).",
    labels=(POOL_NAME,),
    source="pool",
)
DB_CLIENT_CONNECTION_CREATE_TIME: Final = MetricSpec(
    name="db.client.connection.create_time",
    kind=Kind.HISTOGRAM,
    unit="s",
    description="Time to open a new connection.",
    labels=(POOL_NAME,),
    buckets=_LATENCY_BUCKETS,
    source="pool",
)
DB_CLIENT_CONNECTION_WAIT_TIME: Final = MetricSpec(
    name="db.client.connection.wait_time",
    kind=Kind.HISTOGRAM,
    unit="s",
    description="Time a checkout took to obtain a connection (opening one within the overflow included).",
    labels=(POOL_NAME,),
    buckets=_LATENCY_BUCKETS,
    source="pool",
)
DB_CLIENT_CONNECTION_USE_TIME: Final = MetricSpec(
    name="db.client.connection.use_time",
    kind=Kind.HISTOGRAM,
    unit="s",
    description="Time between checkout and return of a connection.",
    labels=(POOL_NAME,),
    buckets=_LATENCY_BUCKETS,
    source="pool",
)
POOL_INVALIDATIONS: Final = MetricSpec(
    name="resilience.db.pool.invalidations",
    kind=Kind.COUNTER,
    unit="{connection}",
    description="Connections invalidated (hard: closed now; soft: replaced at next checkout).",
    labels=(POOL_NAME, Label("invalidation", ("hard", "soft"), "invalidation kind"), ERROR_TYPE),
    source="pool",
)
POOL_GC_RETURNED: Final = MetricSpec(
    name="resilience.db.pool.gc_returned",
    kind=Kind.COUNTER,
    unit="{connection}",
    description="Connections reclaimed by the garbage collector instead of being returned: a leak.",
    labels=(POOL_NAME,),
    source="pool",
)
POOL_EXHAUSTED: Final = MetricSpec(
    name="resilience.db.pool.exhausted",
    kind=Kind.COUNTER,
    unit="{event}",
    description="Checkouts that found no idle connection with size + overflow reached.",
    labels=(POOL_NAME,),
    source="pool",
)

# --- dependency calls (S3 and others) -----------------------------------------------------
DEPENDENCY_OUTCOMES: Final = (
    "success",
    "client_error",
    "server_error",
    "throttled",
    "connection_error",
    "timeout",
)
DEPENDENCY_OPERATIONS: Final = MetricSpec(
    name="resilience.dependency.operations",
    kind=Kind.COUNTER,
    unit="{operation}",
    description="Dependency operations (S3 and others) by operation and outcome.",
    labels=(DEPENDENCY, OPERATION, Label("outcome", DEPENDENCY_OUTCOMES, "operation outcome")),
    source="dependency",
)
DEPENDENCY_DURATION: Final = MetricSpec(
    name="resilience.dependency.duration",
    kind=Kind.HISTOGRAM,
    unit="s",
    description="Duration of dependency operations, the client's own retries included.",
    labels=(DEPENDENCY, OPERATION),
    buckets=_LATENCY_BUCKETS,
    source="dependency",
)
DEPENDENCY_CLIENT_RETRIES: Final = MetricSpec(
    name="resilience.dependency.client_retries",
    kind=Kind.COUNTER,
    unit="{retry}",
    description="Retries the dependency's client library performed on its own (e.g. botocore).",
    labels=(DEPENDENCY, OPERATION),
    source="dependency",
)

# --- outbox ------------------------------------------------------------------------------
OUTBOX_OUTCOMES: Final = ("published", "retry_scheduled", "failed", "dead_lettered")
OUTBOX_ENQUEUED: Final = MetricSpec(
    name="resilience.outbox.enqueued",
    kind=Kind.COUNTER,
    unit="{message}",
    description="Messages written to the outbox, counted after the transaction committed.",
    labels=(DESTINATION,),
    source="outbox",
)
OUTBOX_DISPATCHED: Final = MetricSpec(
    name="resilience.outbox.dispatched",
    kind=Kind.COUNTER,
    unit="{message}",
    description="Relay dispatch attempts by outcome.",
    labels=(DESTINATION, Label("outcome", OUTBOX_OUTCOMES, "dispatch outcome"), ERROR_TYPE),
    source="outbox",
)
OUTBOX_DELIVERY_LAG: Final = MetricSpec(
    name="resilience.outbox.delivery_lag",
    kind=Kind.HISTOGRAM,
    unit="s",
    description="Time from the outbox row's creation to its publication.",
    labels=(DESTINATION,),
    buckets=_LAG_BUCKETS,
    source="outbox",
)
OUTBOX_BATCH_SIZE: Final = MetricSpec(
    name="resilience.outbox.batch_size",
    kind=Kind.HISTOGRAM,
    unit="{message}",
    description="Rows the relay claimed per poll.",
    labels=(),
    buckets=_BATCH_BUCKETS,
    source="outbox",
)
OUTBOX_RELAY_HEARTBEAT: Final = MetricSpec(
    name="resilience.outbox.relay.last_heartbeat_timestamp",
    kind=Kind.GAUGE,
    unit="s",
    description=(
        "Unix time of the relay's last healthy poll (nothing to publish, or at least one row published); "
        "stale means the relay is stuck or cannot reach the broker."
    ),
    labels=(),
    source="outbox",
)
OUTBOX_ROWS: Final = MetricSpec(
    name="resilience.outbox.rows",
    kind=Kind.GAUGE,
    unit="{message}",
    description="Outbox rows by status, read from the outbox table at scrape time.",
    labels=(Label("outbox.table", None, "the outbox table"), Label("status", ("pending", "failed"), "row status")),
    source="outbox",
    scrape_time=True,
)
OUTBOX_OLDEST_PENDING_AGE: Final = MetricSpec(
    name="resilience.outbox.oldest_pending_age",
    kind=Kind.GAUGE,
    unit="s",
    description="Age of the oldest pending outbox row, read at scrape time (0 when empty).",
    labels=(Label("outbox.table", None, "the outbox table"),),
    source="outbox",
    scrape_time=True,
)
OUTBOX_BACKLOG_STALE: Final = MetricSpec(
    name="resilience.outbox.backlog_stale",
    kind=Kind.GAUGE,
    unit="{flag}",
    description="1 when the backlog values are a cached reading because the query failed or timed out.",
    labels=(Label("outbox.table", None, "the outbox table"),),
    source="outbox",
    scrape_time=True,
)

# --- consumers and dead-letter queues -------------------------------------------------------
DLQ_REASONS: Final = ("rejected", "expired", "maxlen", "delivery_limit")
DLQ_DEAD_LETTERED: Final = MetricSpec(
    name="resilience.dlq.dead_lettered",
    kind=Kind.COUNTER,
    unit="{message}",
    description="Messages dead-lettered, by source queue and reason.",
    labels=(QUEUE, Label("reason", DLQ_REASONS, "x-death reason"), ERROR_TYPE),
    source="dlq",
)
DLQ_DEPTH: Final = MetricSpec(
    name="resilience.dlq.depth",
    kind=Kind.GAUGE,
    unit="{message}",
    description="Messages waiting in a dead-letter queue, read at scrape time.",
    labels=(QUEUE,),
    source="dlq",
    scrape_time=True,
)
DLQ_OLDEST_AGE: Final = MetricSpec(
    name="resilience.dlq.oldest_age",
    kind=Kind.GAUGE,
    unit="s",
    description="Age of the oldest message in a dead-letter queue, read at scrape time.",
    labels=(QUEUE,),
    source="dlq",
    scrape_time=True,
)
DLQ_REDRIVES: Final = MetricSpec(
    name="resilience.dlq.redrives",
    kind=Kind.COUNTER,
    unit="{message}",
    description="Messages moved from a dead-letter queue back to their queue, by outcome.",
    labels=(QUEUE, Label("outcome", ("success", "failure"), "redrive outcome")),
    source="dlq",
)
DLQ_STATS_STALE: Final = MetricSpec(
    name="resilience.dlq.stats_stale",
    kind=Kind.GAUGE,
    unit="{flag}",
    description="1 when a dead-letter queue's depth and age are a cached reading (broker slow or down).",
    labels=(QUEUE,),
    source="dlq",
    scrape_time=True,
    exempt="a diagnostic of the collector itself; DLQ alerts read the cached depth and a failed read is logged",
)
CONSUMER_MESSAGES: Final = MetricSpec(
    name="resilience.consumer.messages",
    kind=Kind.COUNTER,
    unit="{message}",
    description="Messages a consumer handled, by outcome.",
    labels=(QUEUE, Label("outcome", ("success", "retry", "dead_lettered", "duplicate"), "handling outcome")),
    source="dlq",
)
CONSUMER_HEADERS: Final = ("traceparent", "correlation_id", "x-death", "x-delivery-count")
CONSUMER_INVALID_HEADERS: Final = MetricSpec(
    name="resilience.consumer.invalid_headers",
    kind=Kind.COUNTER,
    unit="{message}",
    description="Messages whose trace, correlation or death headers were malformed and were ignored or replaced.",
    labels=(QUEUE, Label("header", CONSUMER_HEADERS, "the malformed header")),
    source="dlq",
    exempt="diagnostic counter for producers sending malformed headers; read in the DLQ runbook",
)

# --- health checks and fallbacks -------------------------------------------------------------
FALLBACK_REASON: Final = Label("reason", None, "why the fallback was used, e.g. `circuit_open`, `timeout` (bounded)")
HEALTH_CHECKS: Final = MetricSpec(
    name="resilience.health.checks",
    kind=Kind.COUNTER,
    unit="{check}",
    description="Health check runs by check and outcome (a timeout counts as failure).",
    labels=(CHECK, Label("outcome", ("success", "failure", "timeout"), "check outcome")),
    source="health",
)
HEALTH_CHECK_DURATION: Final = MetricSpec(
    name="resilience.health.check.duration",
    kind=Kind.HISTOGRAM,
    unit="s",
    description="Duration of health check runs.",
    labels=(CHECK,),
    buckets=_LATENCY_BUCKETS,
    source="health",
)
FALLBACK_ACTIVATIONS: Final = MetricSpec(
    name="resilience.fallback.activations",
    kind=Kind.COUNTER,
    unit="{activation}",
    description="Times a fallback answered instead of the primary path.",
    labels=(OPERATION, FALLBACK_REASON),
    source="fallback",
)
DEGRADED: Final = MetricSpec(
    name="resilience.degraded",
    kind=Kind.GAUGE,
    unit="{flag}",
    description="1 while a component runs in degraded mode.",
    labels=(COMPONENT,),
    source="fallback",
)

# --- the package's own health --------------------------------------------------------------
TELEMETRY_INFO: Final = MetricSpec(
    name="resilience.telemetry.info",
    kind=Kind.GAUGE,
    unit="{info}",
    description="Always 1 while the package is set up; its absence means telemetry is gone.",
    labels=(Label("version", None, "package version"),),
    source="self",
)
BUILTIN_SINKS: Final = ("metrics", "trace", "log")
TELEMETRY_SINK: Final = Label("sink", None, "the failing sink: `metrics`, `trace`, `log` or a custom sink's name")
TELEMETRY_SINK_ERRORS: Final = MetricSpec(
    name="resilience.telemetry.sink_errors",
    kind=Kind.COUNTER,
    unit="{error}",
    description="Exceptions a sink raised and the recorder swallowed.",
    labels=(TELEMETRY_SINK,),
    source="self",
)
TELEMETRY_LABEL_OVERFLOWS: Final = MetricSpec(
    name="resilience.telemetry.label_overflows",
    kind=Kind.COUNTER,
    unit="{value}",
    description="Label values folded into `_OTHER` because a label reached its cardinality cap.",
    labels=(Label("label", None, "the label name (a catalog label, closed by construction)"),),
    source="self",
)
TELEMETRY_EXPORT_DROPPED: Final = MetricSpec(
    name="resilience.telemetry.export_dropped",
    kind=Kind.COUNTER,
    unit="{item}",
    description="Spans and log records lost on the way to the OTLP endpoint (queue full or export failed).",
    labels=(
        Label("signal", ("traces", "logs"), "the OTLP signal"),
        Label("reason", ("queue_full", "export_failed"), "why the items were lost"),
    ),
    source="self",
)


# === timeouts, rate limiters, bulkheads and recovery jobs (issue 21) =========================
# One block, appended after the others: each pattern's specs stay together and the structure
# work on the families above never meets these lines.
TIMEOUT_OPERATION: Final = Label(
    "timeout.operation", None, "the operation under a time budget, e.g. `db.orders.insert`"
)
TIMEOUT_OUTCOMES: Final = ("success", "failure", "timeout")
TIMEOUT_CALLS: Final = MetricSpec(
    name="resilience.timeout.calls",
    kind=Kind.COUNTER,
    unit="{call}",
    description=(
        "Operations run under a time budget, by outcome; `timeout` means the budget ran out "
        "(pool, health-check, S3 and retry timeouts keep their own metrics and are not counted here)."
    ),
    labels=(TIMEOUT_OPERATION, Label("outcome", TIMEOUT_OUTCOMES, "how the operation ended")),
    source="timeout",
)
TIMEOUT_DURATION: Final = MetricSpec(
    name="resilience.timeout.duration",
    kind=Kind.HISTOGRAM,
    unit="s",
    description="Elapsed time of operations run under a time budget, timed-out ones included.",
    labels=(TIMEOUT_OPERATION,),
    buckets=_LATENCY_BUCKETS,
    source="timeout",
)
TIMEOUT_BUDGET: Final = MetricSpec(
    name="resilience.timeout.budget",
    kind=Kind.GAUGE,
    unit="s",
    description="The time budget configured for an operation (the latest one reported).",
    labels=(TIMEOUT_OPERATION,),
    source="timeout",
)

RATELIMIT_LIMITER: Final = Label(
    "ratelimit.limiter", None, "the rate limiter, e.g. `slowapi` or the service's own name"
)
RATELIMIT_LIMIT: Final = Label(
    "ratelimit.limit", None, "what is limited: a route template or the limit's name, never the client key"
)
RATELIMIT_DECISIONS: Final = MetricSpec(
    name="resilience.ratelimit.decisions",
    kind=Kind.COUNTER,
    unit="{request}",
    description="Requests a rate limiter admitted or rejected, by limit (never by client).",
    labels=(RATELIMIT_LIMITER, RATELIMIT_LIMIT, Label("outcome", ("admitted", "rejected"), "the decision")),
    source="ratelimit",
)
RATELIMIT_STORAGE_ERRORS: Final = MetricSpec(
    name="resilience.ratelimit.storage_errors",
    kind=Kind.COUNTER,
    unit="{error}",
    description="Errors of the rate limiter's own storage (e.g. Redis unreachable).",
    labels=(RATELIMIT_LIMITER, ERROR_TYPE),
    source="ratelimit",
)
RATELIMIT_FALLBACK_ACTIVE: Final = MetricSpec(
    name="resilience.ratelimit.fallback_active",
    kind=Kind.GAUGE,
    unit="{flag}",
    description="1 while the rate limiter runs on its fallback (per-process counters) because its storage is down.",
    labels=(RATELIMIT_LIMITER,),
    source="ratelimit",
)
RATELIMIT_FALLBACK_ACTIVATIONS: Final = MetricSpec(
    name="resilience.ratelimit.fallback_activations",
    kind=Kind.COUNTER,
    unit="{activation}",
    description="Times the rate limiter switched to its fallback, so a switch shorter than a scrape still shows.",
    labels=(RATELIMIT_LIMITER,),
    source="ratelimit",
)

BULKHEAD_NAME: Final = Label("bulkhead.name", None, "the bulkhead (concurrency limit)")
BULKHEAD_IN_FLIGHT: Final = MetricSpec(
    name="resilience.bulkhead.in_flight",
    kind=Kind.UPDOWN,
    unit="{call}",
    description="Calls running inside a bulkhead now.",
    labels=(BULKHEAD_NAME,),
    source="bulkhead",
)
BULKHEAD_LIMIT: Final = MetricSpec(
    name="resilience.bulkhead.limit",
    kind=Kind.UPDOWN,
    unit="{call}",
    description="The most calls a bulkhead lets run at once.",
    labels=(BULKHEAD_NAME,),
    source="bulkhead",
)
BULKHEAD_QUEUED: Final = MetricSpec(
    name="resilience.bulkhead.queued",
    kind=Kind.UPDOWN,
    unit="{call}",
    description="Calls waiting for a place in a bulkhead now.",
    labels=(BULKHEAD_NAME,),
    source="bulkhead",
)
BULKHEAD_CALLS: Final = MetricSpec(
    name="resilience.bulkhead.calls",
    kind=Kind.COUNTER,
    unit="{call}",
    description="Calls a bulkhead admitted or rejected (full, queue full, or queue wait ran out).",
    labels=(BULKHEAD_NAME, Label("outcome", ("admitted", "rejected"), "the bulkhead's decision")),
    source="bulkhead",
)
BULKHEAD_QUEUE_WAIT: Final = MetricSpec(
    name="resilience.bulkhead.queue.wait_time",
    kind=Kind.HISTOGRAM,
    unit="s",
    description="Time calls that found the bulkhead full waited for a place; its count is the calls that queued.",
    labels=(BULKHEAD_NAME,),
    buckets=_LATENCY_BUCKETS,
    source="bulkhead",
)

RECOVERY_NAME: Final = Label(
    "recovery.name", None, "the recovery path: work parked for later and the job that drains it, e.g. `deposits`"
)
RECOVERY_PARKED: Final = MetricSpec(
    name="resilience.recovery.parked",
    kind=Kind.COUNTER,
    unit="{item}",
    description="Items parked for later because a dependency was down (e.g. deposits set to PENDING_NETWORK_RECOVERY).",
    labels=(RECOVERY_NAME,),
    source="recovery",
)
RECOVERY_BACKLOG: Final = MetricSpec(
    name="resilience.recovery.backlog",
    kind=Kind.GAUGE,
    unit="{item}",
    description="Parked items waiting for recovery, read from the service's table at scrape time.",
    labels=(RECOVERY_NAME,),
    source="recovery",
    scrape_time=True,
)
RECOVERY_OLDEST_PARKED_AGE: Final = MetricSpec(
    name="resilience.recovery.oldest_parked_age",
    kind=Kind.GAUGE,
    unit="s",
    description="Age of the oldest parked item, read at scrape time (0 when nothing is parked).",
    labels=(RECOVERY_NAME,),
    source="recovery",
    scrape_time=True,
)
RECOVERY_BACKLOG_STALE: Final = MetricSpec(
    name="resilience.recovery.backlog_stale",
    kind=Kind.GAUGE,
    unit="{flag}",
    description="1 when the recovery backlog values are a cached reading because the query failed or timed out.",
    labels=(RECOVERY_NAME,),
    source="recovery",
    scrape_time=True,
    exempt="a diagnostic of the collector itself; the backlog alert reads the cached values; failed reads are logged",
)
RECOVERY_DEPENDENCY_AVAILABLE: Final = MetricSpec(
    name="resilience.recovery.dependency_available",
    kind=Kind.GAUGE,
    unit="{flag}",
    description="1 while the dependency the parked work waits for is available, 0 while it is down.",
    labels=(RECOVERY_NAME,),
    source="recovery",
)
RECOVERY_DEPENDENCY_RETURNS: Final = MetricSpec(
    name="resilience.recovery.dependency_returns",
    kind=Kind.COUNTER,
    unit="{event}",
    description="Times the dependency came back, the trigger for a recovery run.",
    labels=(RECOVERY_NAME,),
    source="recovery",
)
RECOVERY_DEPENDENCY_RETURNED: Final = MetricSpec(
    name="resilience.recovery.dependency_returned_timestamp",
    kind=Kind.GAUGE,
    unit="s",
    description="Unix time the dependency last came back: a backlog is expected to drain from then on.",
    labels=(RECOVERY_NAME,),
    source="recovery",
)
RECOVERY_OUTCOMES: Final = ("success", "partial", "failure")
RECOVERY_RUNS: Final = MetricSpec(
    name="resilience.recovery.runs",
    kind=Kind.COUNTER,
    unit="{run}",
    description="Recovery runs by outcome: everything recovered, some items failed, or the run itself failed.",
    labels=(RECOVERY_NAME, Label("outcome", RECOVERY_OUTCOMES, "the run's outcome")),
    source="recovery",
)
RECOVERY_ITEMS: Final = MetricSpec(
    name="resilience.recovery.items",
    kind=Kind.COUNTER,
    unit="{item}",
    description="Parked items a recovery run handled, by outcome.",
    labels=(RECOVERY_NAME, Label("outcome", ("recovered", "failed"), "the item's outcome")),
    source="recovery",
)
RECOVERY_RUN_DURATION: Final = MetricSpec(
    name="resilience.recovery.run.duration",
    kind=Kind.HISTOGRAM,
    unit="s",
    description="Duration of recovery runs.",
    labels=(RECOVERY_NAME,),
    buckets=_LAG_BUCKETS,
    source="recovery",
)
# === end of the issue 21 block ==============================================================

CATALOG: Final[tuple[MetricSpec, ...]] = tuple(
    value for value in list(globals().values()) if isinstance(value, MetricSpec)
)


def by_name(name: str) -> MetricSpec:
    """Look a spec up by OpenTelemetry or Prometheus name; unknown names are a programmer error."""
    for spec in CATALOG:
        if name in (spec.name, spec.prom):
            return spec
    msg = f"{name!r} is not in the metric catalog"
    raise KeyError(msg)
