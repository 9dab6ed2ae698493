"""Every recording rule, alert and runbook section, built from the catalog and a config.

One :class:`Family` per alert area becomes one ``alerts/<family>.rules.yml`` file and one
group of runbook sections. Expressions name metrics and labels only through
:class:`~telemetry.promql.Builder`, so a catalog rename changes every rule with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from telemetry import catalog as c
from telemetry.promql import Builder, number
from telemetry.rules.config import RulesConfig, duration_seconds

__all__ = ["AlertRule", "Family", "Record", "Runbook", "families"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    record: str
    expr: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRule:
    """One alerting rule. ``trace_filters`` are (TraceQL attribute, alert label) pairs for the
    prefilled trace search; ``trace_errors`` adds ``status = error`` to it; ``dashboard_vars``
    are (dashboard variable, alert label) pairs set in the dashboard link besides the service."""

    name: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str
    trace_filters: tuple[tuple[str, str], ...] = ()
    trace_errors: bool = True
    dashboard_vars: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Runbook:
    """A runbook section: what it means, how to confirm, likely causes, mitigation."""

    alert: str
    meaning: str
    confirm: str
    causes: tuple[str, ...]
    mitigation: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Family:
    """One rule file; ``dashboard`` names the Grafana dashboard its alerts link to."""

    name: str
    title: str
    dashboard: str
    records: tuple[Record, ...]
    alerts: tuple[AlertRule, ...]
    runbooks: tuple[Runbook, ...]


def _span(label: c.Label) -> tuple[str, str]:
    """A trace filter on the span attribute carrying the same name as the catalog label."""
    return (f"span.{label.name}", label.prom)


def _breaker(q: Builder, cfg: RulesConfig) -> Family:
    state, tis, transitions = c.CIRCUIT_STATE, c.CIRCUIT_TIME_IN_STATE, c.CIRCUIT_TRANSITIONS
    name = c.BREAKER_NAME.prom
    not_closed = tuple(s for s in c.BREAKER_STATES if s != "closed")
    window = cfg.breaker_open_time_window
    open_expr = (
        f"label_replace(\n  max {q.by(state, name, instance=True)} "
        f"(max_over_time({q.series(state, state='closed')}[{cfg.breaker_window}])) == 0,\n"
        f'  "{c.DEPENDENCY.prom}", "$1", "{name}", "(.*)"\n)'
    )
    flapping = (
        f"sum {q.by(transitions, name, instance=True)} (increase("
        f"{q.series(transitions, from_state='closed', to_state='open')}[{cfg.breaker_flapping_window}]))"
        f" >= {cfg.breaker_flapping_opens}"
    )
    open_time = (
        f"sum {q.by(tis, name, instance=True)} (increase({q.series(tis, state=not_closed)}[{window}]))\n"
        f"/\nsum {q.by(tis, name, instance=True)} (increase({q.series(tis)}[{window}]))\n"
        f"> {number(cfg.breaker_open_time_ratio)}"
    )
    trace = (_span(c.BREAKER_NAME),)
    return Family(
        name="breaker",
        dashboard="breakers",
        title="Circuit breakers",
        records=(),
        alerts=(
            AlertRule(
                name="CircuitBreakerOpen",
                dashboard_vars=(("instance", "instance"), ("breaker", name)),
                expr=open_expr,
                for_=cfg.breaker_pending,
                severity="critical",
                summary="A circuit breaker has not closed for longer than its limit.",
                description=(
                    f"Breaker {{{{ $labels.{name} }}}} of {{{{ $labels.{cfg.service_label} }}}} on "
                    f"{{{{ $labels.instance }}}} has been open or half-open for more than "
                    f"{cfg.breaker_not_closed_for}; calls to it are rejected."
                ),
                trace_filters=trace,
            ),
            AlertRule(
                name="CircuitBreakerFlapping",
                dashboard_vars=(("instance", "instance"), ("breaker", name)),
                expr=flapping,
                for_=cfg.breaker_flapping_for,
                severity="warning",
                summary="A circuit breaker keeps opening and closing.",
                description=(
                    f"Breaker {{{{ $labels.{name} }}}} of {{{{ $labels.{cfg.service_label} }}}} on "
                    f"{{{{ $labels.instance }}}} opened {{{{ $value | humanize }}}} times in the last "
                    f"{cfg.breaker_flapping_window}."
                ),
                trace_filters=trace,
            ),
            AlertRule(
                name="CircuitBreakerOpenTimeHigh",
                dashboard_vars=(("instance", "instance"), ("breaker", name)),
                expr=open_time,
                for_=cfg.breaker_open_time_for,
                severity="warning",
                summary="A circuit breaker spends a large share of its time open.",
                description=(
                    f"Breaker {{{{ $labels.{name} }}}} of {{{{ $labels.{cfg.service_label} }}}} on "
                    f"{{{{ $labels.instance }}}} was open or half-open {{{{ $value | humanizePercentage }}}} "
                    f"of the last {window}, counting opens shorter than a scrape."
                ),
                trace_filters=trace,
            ),
        ),
        runbooks=(
            Runbook(
                alert="CircuitBreakerOpen",
                meaning=(
                    f"The breaker has not been closed once in {cfg.breaker_not_closed_for}: it is open, or "
                    "cycles between open and half-open because every probe fails. Calls to the dependency "
                    "are rejected or served by a fallback. The alert carries `dependency` (the breaker name) "
                    "and mutes the failure-ratio alerts of the same dependency."
                ),
                confirm=(
                    "Breaker panel: the state timeline shows open/half-open, the transitions counter shows "
                    "half-open -> open probes failing; rejected calls rise."
                ),
                causes=(
                    "The dependency is down, overloaded or unreachable (DNS, network policy, credentials).",
                    "The failure threshold is too low for the dependency's normal error rate.",
                ),
                mitigation=(
                    "Fix or fail over the dependency; the breaker closes on the next successful probe.",
                    (
                        "If the dependency is healthy, check the probe's error in the trace search and the "
                        "breaker's `error.type` on rejected calls."
                    ),
                ),
            ),
            Runbook(
                alert="CircuitBreakerFlapping",
                meaning=(
                    f"The breaker went from closed to open at least {cfg.breaker_flapping_opens} times in "
                    f"{cfg.breaker_flapping_window}: the dependency fails intermittently."
                ),
                confirm="Breaker panel: the state timeline alternates; transitions closed -> open repeat.",
                causes=(
                    "An intermittently failing dependency (timeouts under load, a bad replica).",
                    "A reset timeout that is too short, so the breaker closes before recovery.",
                ),
                mitigation=(
                    (
                        "Find the failing calls in the trace search; raise the reset timeout or the failure "
                        "threshold if the dependency needs longer to recover."
                    ),
                ),
            ),
            Runbook(
                alert="CircuitBreakerOpenTimeHigh",
                meaning=(
                    f"Summed from the time-in-state counter, the breaker was not closed for more than "
                    f"{number(cfg.breaker_open_time_ratio * 100)}% of {window}. It sees opens that begin "
                    "and end between two scrapes, which the state gauge misses."
                ),
                confirm="Breaker panel: time in state by state; rejected calls by breaker.",
                causes=("Short, repeated outages of the dependency.", "Probes that fail in half-open."),
                mitigation=("Treat as CircuitBreakerFlapping: find the failing calls, tune the breaker.",),
            ),
        ),
    )


def _pool(q: Builder, cfg: RulesConfig) -> Family:
    pool = c.POOL_NAME.prom
    count, maximum = c.DB_CLIENT_CONNECTION_COUNT, c.DB_CLIENT_CONNECTION_MAX
    pending, timeouts = c.DB_CLIENT_CONNECTION_PENDING_REQUESTS, c.DB_CLIENT_CONNECTION_TIMEOUTS
    used = {c.DB_CLIENT_CONNECTION_COUNT.labels[1].prom: "used"}
    trace = ((f"span.{c.POOL_NAME.name}", pool),)
    who = f"Pool {{{{ $labels.{pool} }}}} of {{{{ $labels.{cfg.service_label} }}}}"
    return Family(
        name="pool",
        dashboard="pools",
        title="Database connection pools",
        records=(),
        alerts=(
            AlertRule(
                name="DatabasePoolTimeouts",
                dashboard_vars=(("pool", pool),),
                expr=(
                    f"sum {q.by(timeouts, pool)} (increase({q.series(timeouts)}[{cfg.pool_timeouts_window}]))"
                    f" > {number(cfg.pool_timeouts_threshold)}"
                ),
                for_=cfg.pool_timeouts_for,
                severity="critical",
                summary="Database connection checkouts time out: the pool is exhausted.",
                description=(
                    f"{who} had {{{{ $value | humanize }}}} checkout timeouts in the last "
                    f"{cfg.pool_timeouts_window}; requests fail waiting for a connection."
                ),
                trace_filters=trace,
            ),
            AlertRule(
                name="DatabasePoolWaiters",
                dashboard_vars=(("instance", "instance"), ("pool", pool)),
                expr=f"sum {q.by(pending, pool, instance=True)} ({q.series(pending)}) > 0",
                for_=cfg.pool_waiters_for,
                severity="warning",
                summary="Requests have been waiting for database connections for minutes.",
                description=(
                    f"{who} on {{{{ $labels.instance }}}} has had checkouts waiting for "
                    f"{cfg.pool_waiters_for}; {{{{ $value | humanize }}}} are waiting now."
                ),
                trace_filters=trace,
                trace_errors=False,
            ),
            AlertRule(
                name="DatabasePoolSaturated",
                dashboard_vars=(("instance", "instance"), ("pool", pool)),
                expr=(
                    f"sum {q.by(count, pool, instance=True)} ({q.series(count, **used)})\n"
                    f">=\nsum {q.by(maximum, pool, instance=True)} ({q.series(maximum)})"
                ),
                for_=cfg.pool_saturated_for,
                severity="warning",
                summary="Every connection of a database pool has been in use for minutes.",
                description=(
                    f"{who} on {{{{ $labels.instance }}}} has used all {{{{ $value | humanize }}}} "
                    f"connections for {cfg.pool_saturated_for}."
                ),
                trace_filters=trace,
                trace_errors=False,
            ),
        ),
        runbooks=(
            Runbook(
                alert="DatabasePoolTimeouts",
                meaning=(
                    "Checkouts gave up after the pool timeout: every connection (pool size + overflow) was "
                    "busy. The requests that hit it failed."
                ),
                confirm="Pool panel: used == max, pending requests > 0, wait time p99 at the pool timeout.",
                causes=(
                    "Slow queries or a locked table hold connections longer than usual.",
                    "A connection leak (see `resilience_db_pool_gc_returned_total`).",
                    "Traffic above what pool size + overflow can serve.",
                ),
                mitigation=(
                    "Find slow or blocked queries (pg_stat_activity), kill the blocker.",
                    "Raise pool_size/max_overflow only if the database has room for more connections.",
                ),
            ),
            Runbook(
                alert="DatabasePoolWaiters",
                meaning=f"Checkouts have been queueing for a connection for {cfg.pool_waiters_for}.",
                confirm="Pool panel: pending requests and wait time.",
                causes=("The same as DatabasePoolTimeouts, earlier.",),
                mitigation=("As for DatabasePoolTimeouts, before requests start to fail.",),
            ),
            Runbook(
                alert="DatabasePoolSaturated",
                meaning=f"Used connections have equalled the pool maximum for {cfg.pool_saturated_for}.",
                confirm="Pool panel: used vs max; use time histogram.",
                causes=("Long transactions, leaks, or a pool sized below the steady load.",),
                mitigation=("Shorten transactions, fix leaks, or resize the pool with the database in mind.",),
            ),
        ),
    )


def _ratio_family(
    q: Builder,
    cfg: RulesConfig,
    spec: c.MetricSpec,
    label: c.Label,
    failures: tuple[str, ...],
) -> tuple[Record, Record, str, str]:
    """Rate and failure-ratio recording rules of ``spec`` by service and ``label``; returns
    them with the names of the rate and ratio series."""
    window = cfg.rate_window
    level = q.level(spec, label.prom)
    rate_name = f"{level}:{q.metric(spec)}:rate{window}"
    ratio_name = f"{level}:{q.metric(spec, 'failed')}:ratio_rate{window}"
    by = q.by(spec, label.prom)
    rate = Record(record=rate_name, expr=f"sum {by} (rate({q.series(spec)}[{window}]))")
    ratio = Record(
        record=ratio_name,
        expr=(
            f"sum {by} (rate({q.series(spec, outcome=failures)}[{window}]))\n"
            f"/\nsum {by} (rate({q.series(spec)}[{window}]))"
        ),
    )
    return rate, ratio, rate_name, ratio_name


def _dependency(q: Builder, cfg: RulesConfig) -> Family:
    dep = c.DEPENDENCY.prom
    check = c.CHECK.prom
    d_rate, d_ratio, d_rate_name, d_ratio_name = _ratio_family(
        q, cfg, c.DEPENDENCY_OPERATIONS, c.DEPENDENCY, cfg.dependency_failure_outcomes
    )
    health_failures = tuple(v for v in c.HEALTH_CHECKS.labels[-1].values or () if v != "success")
    h_rate, h_ratio, h_rate_name, h_ratio_name = _ratio_family(q, cfg, c.HEALTH_CHECKS, c.CHECK, health_failures)
    svc = cfg.service_label
    return Family(
        name="dependency",
        dashboard="dependencies",
        title="Dependencies (S3 and others) and health checks",
        records=(d_rate, d_ratio, h_rate, h_ratio),
        alerts=(
            AlertRule(
                name="DependencyFailureRatioHigh",
                dashboard_vars=(("dependency", dep),),
                expr=(
                    f"{d_ratio_name} > {number(cfg.dependency_failure_ratio)}\n"
                    f"and on ({svc}, {dep})\n{d_rate_name} > {number(cfg.dependency_min_rate)}"
                ),
                for_=cfg.dependency_failure_for,
                severity="critical",
                summary=(
                    f"Calls to a dependency fail more than {number(cfg.dependency_failure_ratio * 100)}% of the time."
                ),
                description=(
                    f"{{{{ $value | humanizePercentage }}}} of the operations of {{{{ $labels.{svc} }}}} on "
                    f"{{{{ $labels.{dep} }}}} failed over the last {cfg.rate_window}."
                ),
                trace_filters=(_span(c.DEPENDENCY),),
            ),
            AlertRule(
                name="HealthCheckFailureRatioHigh",
                dashboard_vars=(("check", check),),
                expr=(
                    f"label_replace(\n  {h_ratio_name} > {number(cfg.health_failure_ratio)}\n"
                    f"  and on ({svc}, {check})\n  {h_rate_name} > {number(cfg.health_min_rate)},\n"
                    f'  "{dep}", "$1", "{check}", "(.*)"\n)'
                ),
                for_=cfg.health_failure_for,
                severity="warning",
                summary=(f"A health check fails more than {number(cfg.health_failure_ratio * 100)}% of its runs."),
                description=(
                    f"Health check {{{{ $labels.{check} }}}} of {{{{ $labels.{svc} }}}} failed "
                    f"{{{{ $value | humanizePercentage }}}} of its runs over the last {cfg.rate_window}."
                ),
                trace_filters=(_span(c.CHECK),),
            ),
        ),
        runbooks=(
            Runbook(
                alert="DependencyFailureRatioHigh",
                meaning=(
                    f"More than {number(cfg.dependency_failure_ratio * 100)}% of the calls to the dependency "
                    f"(outcomes {', '.join(cfg.dependency_failure_outcomes)}) failed over {cfg.rate_window}, "
                    f"with at least {number(cfg.dependency_min_rate)} calls/s, so a single failing request "
                    "does not page. Muted while CircuitBreakerOpen fires for the same service and dependency."
                ),
                confirm="Dependency panel: operations by outcome and duration by operation.",
                causes=(
                    "The dependency (S3/MinIO, an HTTP API) is down, throttling, or slow beyond the timeout.",
                    "Network or credential problems (connection_error, client_error spikes).",
                ),
                mitigation=(
                    "Check the provider's status; switch to the fallback or degrade the feature.",
                    "Look at `error.type` in the failing traces to tell throttling from outages.",
                ),
            ),
            Runbook(
                alert="HealthCheckFailureRatioHigh",
                meaning=(
                    f"More than {number(cfg.health_failure_ratio * 100)}% of the runs of a health check "
                    f"failed or timed out over {cfg.rate_window}. The alert carries `dependency` (the check "
                    "name) and is muted by CircuitBreakerOpen of the same dependency."
                ),
                confirm="Health panel: check results by outcome and check duration.",
                causes=("The checked dependency is down or slow.", "The check's timeout is too tight."),
                mitigation=("Restore the dependency; confirm readiness reports it healthy again.",),
            ),
        ),
    )


def _retry(q: Builder, cfg: RulesConfig) -> Family:
    name = c.RETRY_NAME.prom
    calls, attempts = c.RETRY_CALLS, c.RETRY_ATTEMPTS
    window = cfg.rate_window
    rate, ratio, rate_name, ratio_name = _ratio_family(q, cfg, calls, c.RETRY_NAME, ("exhausted",))
    level = q.level(attempts, name)
    attempts_name = f"{level}:{q.metric(attempts)}:rate{window}"
    amplification_name = f"{level}:{q.metric(attempts)}_per_{q.metric(calls)}:ratio_rate{window}"
    svc = cfg.service_label
    guard = f"and on ({svc}, {name})\n{rate_name} > {number(cfg.retry_min_rate)}"
    who = f"{{{{ $labels.{name} }}}} of {{{{ $labels.{svc} }}}}"
    trace = (_span(c.RETRY_NAME),)
    return Family(
        name="retry",
        dashboard="retries",
        title="Retries",
        records=(
            rate,
            ratio,
            Record(record=attempts_name, expr=f"sum {q.by(attempts, name)} (rate({q.series(attempts)}[{window}]))"),
            Record(record=amplification_name, expr=f"{attempts_name}\n/\n{rate_name}"),
        ),
        alerts=(
            AlertRule(
                name="RetryExhaustionRatioHigh",
                dashboard_vars=(("retry", name),),
                expr=f"{ratio_name} > {number(cfg.retry_exhaustion_ratio)}\n{guard}",
                for_=cfg.retry_for,
                severity="warning",
                summary="Many retried calls fail after their last attempt.",
                description=f"{{{{ $value | humanizePercentage }}}} of the calls of {who} exhausted their retries.",
                trace_filters=trace,
            ),
            AlertRule(
                name="RetryAmplificationHigh",
                dashboard_vars=(("retry", name),),
                expr=f"{amplification_name} > {number(cfg.retry_amplification)}\n{guard}",
                for_=cfg.retry_for,
                severity="warning",
                summary="Retries multiply the load on a dependency.",
                description=f"Calls of {who} take {{{{ $value | humanize }}}} attempts on average.",
                trace_filters=trace,
                trace_errors=False,
            ),
        ),
        runbooks=(
            Runbook(
                alert="RetryExhaustionRatioHigh",
                meaning=(
                    f"More than {number(cfg.retry_exhaustion_ratio * 100)}% of the calls of this retried "
                    f"operation failed after every attempt over {window} (guard: "
                    f"{number(cfg.retry_min_rate)} calls/s)."
                ),
                confirm="Retry panel: calls by outcome; scheduled retries by `error.type`.",
                causes=("The dependency behind the operation fails persistently; retries cannot help.",),
                mitigation=("Fix the dependency; consider a breaker so callers fail fast.",),
            ),
            Runbook(
                alert="RetryAmplificationHigh",
                meaning=(
                    f"Calls need more than {number(cfg.retry_amplification)} attempts on average: each "
                    "user request multiplies the load on a struggling dependency."
                ),
                confirm="Retry panel: attempts per call histogram and backoff time.",
                causes=("A degraded dependency; retry settings without jitter or a cap.",),
                mitigation=("Lower max attempts, add jitter and a retry budget, or put a breaker in front.",),
            ),
        ),
    )


def _outbox(q: Builder, cfg: RulesConfig) -> Family:
    table = c.OUTBOX_OLDEST_PENDING_AGE.labels[0].prom
    age, rows, dispatched = c.OUTBOX_OLDEST_PENDING_AGE, c.OUTBOX_ROWS, c.OUTBOX_DISPATCHED
    heartbeat = c.OUTBOX_RELAY_HEARTBEAT
    svc = cfg.service_label

    def stale(severity: str, threshold: float) -> AlertRule:
        return AlertRule(
            name="OutboxBacklogStale",
            dashboard_vars=(("outbox_table", table),),
            expr=f"max {q.by(age, table)} ({q.series(age)}) > {number(threshold)}",
            for_=cfg.outbox_age_for,
            severity=severity,
            summary="Outbox messages wait too long to be published.",
            description=(
                f"The oldest pending row of {{{{ $labels.{table} }}}} in {{{{ $labels.{svc} }}}} is "
                f"{{{{ $value | humanizeDuration }}}} old (limit {number(threshold)}s)."
            ),
            trace_filters=(),
            trace_errors=False,
        )

    published = {"outcome": "published"}
    return Family(
        name="outbox",
        dashboard="outbox-dlq",
        title="Transactional outbox",
        records=(),
        alerts=(
            stale("warning", cfg.outbox_age_warning),
            stale("critical", cfg.outbox_age_critical),
            AlertRule(
                name="OutboxRelayStalled",
                dashboard_vars=(("outbox_table", table),),
                expr=(
                    f"max {q.by(rows, table)} ({q.series(rows, status='pending')}) > 0\n"
                    f"unless on ({svc})\nsum by ({svc}) (increase("
                    f"{q.series(dispatched, **published)}[{cfg.outbox_stall_window}])) > 0"
                ),
                for_=cfg.outbox_stall_for,
                severity="critical",
                summary="The outbox relay publishes nothing while messages are pending.",
                description=(
                    f"{{{{ $value | humanize }}}} rows are pending in {{{{ $labels.{table} }}}} of "
                    f"{{{{ $labels.{svc} }}}} and nothing was published in {cfg.outbox_stall_window}."
                ),
                trace_errors=False,
            ),
            AlertRule(
                name="OutboxRelayHeartbeatStale",
                expr=f"time() - max by ({svc}) ({q.series(heartbeat)}) > {number(cfg.outbox_heartbeat_stale)}",
                for_=cfg.outbox_stall_for,
                severity="critical",
                summary="The outbox relay has had no healthy poll for minutes.",
                description=(
                    f"The outbox relay of {{{{ $labels.{svc} }}}} last had a healthy poll "
                    f"{{{{ $value | humanizeDuration }}}} ago."
                ),
                trace_errors=False,
            ),
        ),
        runbooks=(
            Runbook(
                alert="OutboxBacklogStale",
                meaning=(
                    f"The oldest pending outbox row is older than {number(cfg.outbox_age_warning)}s "
                    f"(warning) or {number(cfg.outbox_age_critical)}s (critical): events reach consumers late."
                ),
                confirm="Outbox panel: oldest pending age, rows by status, dispatched by outcome.",
                causes=(
                    "The broker is unreachable, so dispatches fail and are rescheduled.",
                    "The relay is too slow for the write rate (batch size, poll interval).",
                ),
                mitigation=(
                    "Restore the broker; watch the age fall as the relay drains the table.",
                    "Scale the relay or raise its batch size.",
                ),
            ),
            Runbook(
                alert="OutboxRelayStalled",
                meaning=f"Rows are pending and nothing was published for {cfg.outbox_stall_window}.",
                confirm="Outbox panel: rows by status, dispatched by outcome, relay heartbeat age.",
                causes=("The relay task crashed or is stuck on a lock.", "Every dispatch fails (broker down)."),
                mitigation=("Restart the relay; look at its last spans and logs for the error.",),
            ),
            Runbook(
                alert="OutboxRelayHeartbeatStale",
                meaning=(
                    f"The relay's last healthy poll (nothing to publish, or at least one row published) is "
                    f"older than {number(cfg.outbox_heartbeat_stale)}s: it hangs, or every publish fails, even "
                    "if the process still answers scrapes."
                ),
                confirm="Outbox panel: relay heartbeat age; dispatched by outcome; oldest pending age rising.",
                causes=(
                    "The broker is unreachable, so no poll publishes anything.",
                    "A poll blocked on a database lock or a broker call without a timeout.",
                ),
                mitigation=("Restart the relay; add timeouts to the blocking call found in its last trace.",),
            ),
        ),
    )


def _dlq(q: Builder, cfg: RulesConfig) -> Family:
    queue = c.QUEUE.prom
    dead, oldest = c.DLQ_DEAD_LETTERED, c.DLQ_OLDEST_AGE
    svc = cfg.service_label
    trace = ((f"span.{c.DESTINATION.name}", queue),)
    return Family(
        name="dlq",
        dashboard="outbox-dlq",
        title="Dead-letter queues",
        records=(),
        alerts=(
            AlertRule(
                name="DeadLetterInflow",
                dashboard_vars=(("queue", queue),),
                expr=(
                    f"sum {q.by(dead, queue)} (increase({q.series(dead)}[{cfg.dlq_inflow_window}]))"
                    f" > {number(cfg.dlq_inflow_threshold)}"
                ),
                for_=cfg.dlq_inflow_for,
                severity="warning",
                summary="Messages are being dead-lettered.",
                description=(
                    f"{{{{ $value | humanize }}}} messages from {{{{ $labels.{queue} }}}} of "
                    f"{{{{ $labels.{svc} }}}} were dead-lettered in the last {cfg.dlq_inflow_window}."
                ),
                trace_filters=trace,
            ),
            AlertRule(
                name="DeadLetterQueueStale",
                dashboard_vars=(("queue", queue),),
                expr=f"max {q.by(oldest, queue)} ({q.series(oldest)}) > {number(cfg.dlq_stale_age)}",
                for_=cfg.dlq_stale_for,
                severity="warning",
                summary="Dead-lettered messages wait unhandled.",
                description=(
                    f"The oldest message in {{{{ $labels.{queue} }}}} of {{{{ $labels.{svc} }}}} is "
                    f"{{{{ $value | humanizeDuration }}}} old."
                ),
                trace_filters=trace,
                trace_errors=False,
            ),
        ),
        runbooks=(
            Runbook(
                alert="DeadLetterInflow",
                meaning=(
                    f"More than {number(cfg.dlq_inflow_threshold)} messages were dead-lettered in "
                    f"{cfg.dlq_inflow_window}: consumers gave up on them."
                ),
                confirm="DLQ panel: dead-lettered by queue, reason and `error.type`; consumer outcomes.",
                causes=("A poison message or a schema change the consumer rejects.", "A dependency outage."),
                mitigation=(
                    "Open a dead-lettered message's trace by its trace ID header; fix the consumer, then redrive.",
                ),
            ),
            Runbook(
                alert="DeadLetterQueueStale",
                meaning=f"The oldest dead-lettered message is older than {number(cfg.dlq_stale_age)}s.",
                confirm="DLQ panel: depth and oldest age.",
                causes=("Nobody handled the dead letters.",),
                mitigation=("Redrive after the fix, or discard deliberately; record the decision.",),
            ),
        ),
    )


def _degraded_and_meta(q: Builder, cfg: RulesConfig) -> Family:
    component = c.COMPONENT.prom
    svc = cfg.service_label
    info = c.TELEMETRY_INFO
    return Family(
        name="meta",
        dashboard="overview",
        title="Degraded mode and the telemetry pipeline",
        records=(),
        alerts=(
            AlertRule(
                name="DegradedModeActive",
                expr=f"max {q.by(c.DEGRADED, component)} ({q.series(c.DEGRADED)}) > 0",
                for_=cfg.degraded_for,
                severity="warning",
                summary="A component has run in degraded mode for a long time.",
                description=(
                    f"{{{{ $labels.{component} }}}} of {{{{ $labels.{svc} }}}} has been degraded for more "
                    f"than {cfg.degraded_for}."
                ),
                trace_errors=False,
            ),
            AlertRule(
                name="ResilienceTelemetryAbsent",
                expr=(
                    f"group by ({svc}) (max_over_time({q.series(info)}[{cfg.telemetry_absent_window}]))\n"
                    f"unless\ngroup by ({svc}) ({q.series(info)})"
                ),
                for_=cfg.telemetry_absent_for,
                severity="warning",
                summary="A service stopped exporting its resilience metrics.",
                description=(
                    f"{{{{ $labels.{svc} }}}} exported resilience metrics in the last "
                    f"{cfg.telemetry_absent_window} but exports none now."
                ),
                trace_errors=False,
            ),
            AlertRule(
                name="Watchdog",
                expr=f'label_replace(vector(1), "{svc}", "{cfg.watchdog_service}", "", "")',
                for_="0m",
                severity="info",
                summary="The alerting pipeline works: this alert always fires.",
                description="Watchdog fires while Prometheus evaluates rules and reaches Alertmanager.",
                trace_errors=False,
            ),
        ),
        runbooks=(
            Runbook(
                alert="DegradedModeActive",
                meaning=f"A component has served its fallback for more than {cfg.degraded_for}.",
                confirm="Fallback panel: degraded flag and fallback activations by reason.",
                causes=("The primary path's dependency is down (cache, S3, a remote API).",),
                mitigation=("Restore the dependency; the flag clears when the primary path answers again.",),
            ),
            Runbook(
                alert="ResilienceTelemetryAbsent",
                meaning=(
                    f"The service exported `{info.prom}` in the last {cfg.telemetry_absent_window} and "
                    "exports nothing now: every other alert of this bundle is blind for it."
                ),
                confirm="Prometheus targets page: is the target up? Does /metrics answer?",
                causes=("The service is down or no longer scraped.", "Telemetry set-up was removed."),
                mitigation=("Restore the scrape target or `telemetry.instrument(app)`.",),
            ),
            Runbook(
                alert="Watchdog",
                meaning=(
                    "Always firing. Alertmanager sends it to the dead-man receiver every "
                    f"{cfg.deadman_repeat_interval}; silence from it means the alerting pipeline is broken."
                ),
                confirm="Alertmanager UI lists Watchdog as active.",
                causes=("If it stops: Prometheus down, rule evaluation stuck, or Alertmanager unreachable.",),
                mitigation=("Never silence it. Restore Prometheus -> Alertmanager delivery.",),
            ),
        ),
    )


def _slo(q: Builder, cfg: RulesConfig) -> Family:
    spec = c.HTTP_SERVER_REQUEST_DURATION
    status = spec.labels[2].prom
    svc = cfg.service_label
    by = f"by ({svc})"
    windows = sorted(
        {w for pair in cfg.slo_windows for w in (pair.long, pair.short)},
        key=duration_seconds,
    )
    records: list[Record] = []
    errors_name = "{svc}:http_server_request_errors:ratio_rate{w}"
    slow_name = "{svc}:http_server_request_slow:ratio_rate{w}"
    le = str(float(cfg.latency_threshold))
    for w in windows:
        total = f"sum {by} (rate({q.series(spec, '_count')}[{w}]))"
        errors = f"sum {by} (rate({q.series(spec, '_count', **{status: ('5..',)})}[{w}]))"
        fast = f"sum {by} (rate({q.series(spec, '_bucket', le=le)}[{w}]))"
        records.append(Record(record=errors_name.format(svc=svc, w=w), expr=f"{errors}\n/\n{total}"))
        records.append(Record(record=slow_name.format(svc=svc, w=w), expr=f"({total} - {fast})\n/\n{total}"))
    alerts: list[AlertRule] = []
    for kind, objective, template in (
        ("Availability", cfg.availability_objective, errors_name),
        ("Latency", cfg.latency_objective, slow_name),
    ):
        budget = 1 - objective
        what = "server errors (5xx)" if kind == "Availability" else f"requests slower than {le}s"
        for pair in cfg.slo_windows:
            threshold = number(pair.factor * budget)
            long_name = template.format(svc=svc, w=pair.long)
            short_name = template.format(svc=svc, w=pair.short)
            alerts.append(
                AlertRule(
                    name=f"Http{kind}BudgetBurn",
                    expr=f"{long_name} > {threshold}\nand\n{short_name} > {threshold}",
                    for_=pair.for_,
                    severity=pair.severity,
                    summary=f"The HTTP {kind.lower()} error budget is burning too fast.",
                    description=(
                        f"{{{{ $value | humanizePercentage }}}} of the requests of {{{{ $labels.{svc} }}}} "
                        f"were {what} over the last {pair.long} ({number(pair.factor)}x the budget of "
                        f"the {number(objective * 100)}% objective)."
                    ),
                    labels=(("long", pair.long), ("short", pair.short)),
                )
            )
    runbooks = tuple(
        Runbook(
            alert=f"Http{kind}BudgetBurn",
            meaning=(
                f"The {kind.lower()} SLO ({number(objective * 100)}% of requests {goal}) loses its 30-day "
                "error budget fast: both the long and the short window of a pair (SRE workbook) are above "
                "factor x budget. `long`/`short` labels name the pair; critical pairs page, warning pairs "
                "open a ticket."
            ),
            confirm="Service panel (RED): request rate, error ratio and latency by route; follow an exemplar.",
            causes=(
                "A failing dependency (see breaker, pool and dependency alerts of the same service).",
                "A bad deploy; saturation.",
            ),
            mitigation=("Roll back or fail over; mitigate the dependency; shed load.",),
        )
        for kind, objective, goal in (
            ("Availability", cfg.availability_objective, "answered without a 5xx"),
            ("Latency", cfg.latency_objective, f"faster than {le}s"),
        )
    )
    return Family(
        name="slo",
        dashboard="overview",
        title="HTTP SLOs (multi-window, multi-burn-rate)",
        records=tuple(records),
        alerts=tuple(alerts),
        runbooks=runbooks,
    )


def families(config: RulesConfig) -> tuple[Family, ...]:
    q = Builder(config.selector, config.service_label)
    return (
        _breaker(q, config),
        _pool(q, config),
        _dependency(q, config),
        _retry(q, config),
        _outbox(q, config),
        _dlq(q, config),
        _degraded_and_meta(q, config),
        _slo(q, config),
    )
