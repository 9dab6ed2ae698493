"""The six dashboards, described from the metric catalog.

Every metric and label name comes from :mod:`telemetry.catalog` through
:mod:`telemetry.dashboards._promql`; the only literals are label *values* checked against the
catalog's closed sets, HTTP status-code patterns, and the target labels ``service`` and
``instance`` that the Prometheus scrape configuration attaches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from telemetry import catalog as c
from telemetry.dashboards._grafana import Board, Panel, Query, Row, Variable, explore_url
from telemetry.dashboards._promql import (
    INSTANCE,
    SERVICE,
    Matcher,
    aggregate,
    label,
    quantile,
    rate,
    ratio,
    value,
)

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["BOARDS", "LINKS", "breakers", "dependencies", "overview", "pools", "queues", "retries"]

# Thresholds drawn on panels (the alert rules own the alerting thresholds).
BREAKER_FAILURE_RATIO_THRESHOLD: Final = 0.5
DEPENDENCY_FAILURE_RATIO_THRESHOLD: Final = 0.3
HEALTH_FAILURE_RATIO_THRESHOLD: Final = 0.5
POOL_SATURATION_THRESHOLD: Final = 0.9
_STATE_COLOURS: Final = {"closed": "green", "half_open": "yellow", "open": "red"}
_QUANTILES: Final = (0.5, 0.95, 0.99)

_HTTP: Final = c.HTTP_SERVER_REQUEST_DURATION
_ROUTE: Final = label(_HTTP, "http.route")
_STATUS: Final = label(_HTTP, "http.response.status_code")
_TABLE: Final = label(c.OUTBOX_OLDEST_PENDING_AGE, "outbox.table")

# --- variables ------------------------------------------------------------------------------
_SERVICE_VAR: Final = Variable(
    name=SERVICE,
    title="Service",
    metric=c.TELEMETRY_INFO.prom,
    label=SERVICE,
    description="Services reporting resilience telemetry (the `service` scrape label).",
)
_INSTANCE_VAR: Final = Variable(
    name=INSTANCE,
    title="Instance",
    metric=c.TELEMETRY_INFO.prom,
    label=INSTANCE,
    description="Instances (scrape targets) of the selected services.",
)


def _component(name: str, title: str, spec: c.MetricSpec, lab: c.Label) -> Variable:
    return Variable(
        name=name,
        title=title,
        metric=spec.prom,
        label=lab.prom,
        description=f"{title} names, from `{spec.prom}`.",
    )


def _only(lab: c.Label, variable: Variable) -> Matcher:
    return Matcher(lab, "=~", f"${variable.name}")


# --- links to logs and traces -------------------------------------------------------------------
def _loki(expr: str) -> str:
    return explore_url("${loki}", {"refId": "A", "datasource": {"type": "loki", "uid": "${loki}"}, "expr": expr})


def _tempo(query: str) -> str:
    return explore_url(
        "${tempo}",
        {"refId": "A", "datasource": {"type": "tempo", "uid": "${tempo}"}, "queryType": "traceql", "query": query},
    )


LINKS: Final = (
    ("Logs by correlation ID", _loki('{service_name=~"$service"} | json | correlation_id="$correlation_id"')),
    ("Logs by trace ID", _loki('{service_name=~"$service"} | json | trace_id="$trace_id"')),
    ("Trace by ID", _tempo("$trace_id")),
    ("Error traces", _tempo('{resource.service.name=~"$service" && status=error}')),
)


def _board(uid: str, title: str, description: str, rows: tuple[Row, ...], *components: Variable) -> Board:
    return Board(
        uid=uid,
        title=title,
        description=description,
        rows=rows,
        variables=(_SERVICE_VAR, _INSTANCE_VAR, *components),
        links=LINKS,
    )


def _latency(spec: c.MetricSpec, *matchers: Matcher, group: tuple[c.Label, ...] = ()) -> tuple[Query, ...]:
    """p50/p95/p99 with exemplars: a dot on the chart opens the trace behind it."""
    legend = _legend(*group)
    return tuple(
        Query(quantile(q, spec, *matchers, group=group), f"p{round(q * 100)} {legend}".strip(), exemplar=True)
        for q in _QUANTILES
    )


def _outcome(spec: c.MetricSpec, wanted: str, op: str = "=") -> Matcher:
    lab = label(spec, "outcome")
    return Matcher(lab, op, value(lab, wanted))


def _legend(*labels: c.Label | str) -> str:
    return " ".join(f"{{{{{item if isinstance(item, str) else item.prom}}}}}" for item in labels)


# --- service overview -----------------------------------------------------------------------------
def overview() -> Board:
    requests = rate(_HTTP, group=(), part="count")
    errors = rate(_HTTP, Matcher(_STATUS, "=~", "5.."), part="count")
    used = aggregate(
        "sum",
        c.DB_CLIENT_CONNECTION_COUNT,
        Matcher(label(c.DB_CLIENT_CONNECTION_COUNT, "db.client.connection.state"), "=", "used"),
        group=(INSTANCE, c.POOL_NAME),
    )
    pool_max = aggregate("sum", c.DB_CLIENT_CONNECTION_MAX, group=(INSTANCE, c.POOL_NAME))
    dep_all = rate(c.DEPENDENCY_OPERATIONS, group=(c.DEPENDENCY,))
    dep_failed = rate(
        c.DEPENDENCY_OPERATIONS, _outcome(c.DEPENDENCY_OPERATIONS, "success", "!="), group=(c.DEPENDENCY,)
    )
    red = Row(
        title="Requests (RED)",
        panels=(
            Panel(
                title="Request rate",
                description="HTTP requests per second by route template.",
                unit="reqps",
                queries=(Query(rate(_HTTP, group=(_ROUTE,), part="count"), _legend(_ROUTE)),),
                width=8,
            ),
            Panel(
                title="Error ratio",
                description="Share of HTTP requests answered with a 5xx status.",
                unit="percentunit",
                queries=(Query(ratio(errors, requests), "5xx ratio"),),
                width=8,
                threshold=0.05,
            ),
            Panel(
                title="Latency",
                description="HTTP request duration percentiles; exemplar dots link to the traces behind them.",
                unit="s",
                queries=_latency(_HTTP),
                width=8,
            ),
        ),
    )
    glance = Row(
        title="Resilience at a glance",
        panels=(
            Panel(
                title="Breakers not closed",
                description="Circuit breakers currently open or half-open (one-hot state).",
                unit="short",
                kind="stat",
                queries=(
                    Query(
                        aggregate(
                            "sum", c.CIRCUIT_STATE, Matcher(c.BREAKER_STATE, "!=", value(c.BREAKER_STATE, "closed"))
                        ),
                        "not closed",
                    ),
                ),
                width=4,
                height=5,
                threshold=1,
            ),
            Panel(
                title="Pool saturation",
                description="Highest used / max connections across pools and instances.",
                unit="percentunit",
                kind="stat",
                queries=(Query(f"max({used} / {pool_max})", "saturation"),),
                width=4,
                height=5,
                threshold=POOL_SATURATION_THRESHOLD,
            ),
            Panel(
                title="Dependency failure ratio",
                description="Share of failed dependency operations (S3 and others) per dependency.",
                unit="percentunit",
                kind="stat",
                queries=(Query(ratio(dep_failed, dep_all), _legend(c.DEPENDENCY)),),
                width=4,
                height=5,
                threshold=DEPENDENCY_FAILURE_RATIO_THRESHOLD,
            ),
            Panel(
                title="Outbox oldest pending",
                description="Age of the oldest pending outbox row; growth means the relay is behind or stuck.",
                unit="s",
                kind="stat",
                queries=(Query(aggregate("max", c.OUTBOX_OLDEST_PENDING_AGE), "oldest"),),
                width=4,
                height=5,
                threshold=300,
            ),
            Panel(
                title="DLQ inflow",
                description="Messages dead-lettered per second, all queues.",
                unit="cps",
                kind="stat",
                queries=(Query(rate(c.DLQ_DEAD_LETTERED), "inflow"),),
                width=4,
                height=5,
                threshold=0.01,
            ),
            Panel(
                title="Degraded components",
                description="Components running in degraded mode right now.",
                unit="short",
                kind="stat",
                queries=(Query(aggregate("sum", c.DEGRADED), "degraded"),),
                width=4,
                height=5,
                threshold=1,
            ),
        ),
    )
    sink = label(c.TELEMETRY_SINK_ERRORS, "sink")
    overflow = label(c.TELEMETRY_LABEL_OVERFLOWS, "label")
    signal = label(c.TELEMETRY_EXPORT_DROPPED, "signal")
    version = label(c.TELEMETRY_INFO, "version")
    alerts = Row(
        title="Alerts and telemetry",
        panels=(
            Panel(
                title="Active alerts",
                description="Firing and pending alerts of the selected services.",
                unit="none",
                kind="alertlist",
            ),
            Panel(
                title="Telemetry errors",
                description=(
                    "Exceptions swallowed by the telemetry sinks, label values folded into _OTHER, and spans"
                    " and log records lost on the way to the OTLP endpoint (queue full or export failed)."
                ),
                unit="ops",
                queries=(
                    Query(rate(c.TELEMETRY_SINK_ERRORS, group=(sink,)), f"sink {_legend(sink)}"),
                    Query(rate(c.TELEMETRY_LABEL_OVERFLOWS, group=(overflow,)), f"overflow {_legend(overflow)}"),
                    Query(rate(c.TELEMETRY_EXPORT_DROPPED, group=(signal,)), f"dropped {_legend(signal)}"),
                ),
                width=8,
            ),
            Panel(
                title="Instances reporting",
                description="Instances exposing resilience telemetry, by package version.",
                unit="short",
                kind="stat",
                queries=(
                    Query(
                        aggregate("count", c.TELEMETRY_INFO, group=(version,)),
                        _legend(version),
                    ),
                ),
                width=4,
            ),
        ),
    )
    return _board(
        "rt-overview",
        "Service overview",
        "RED signals, active alerts and the health of every resilience mechanism on one screen.",
        (red, glance, alerts),
    )


# --- circuit breakers -------------------------------------------------------------------------------
def breakers() -> Board:
    var = _component("breaker", "Breaker", c.CIRCUIT_STATE, c.BREAKER_NAME)
    only = _only(c.BREAKER_NAME, var)
    group = (INSTANCE, c.BREAKER_NAME)
    state_code = " + ".join(
        f"{aggregate('sum', c.CIRCUIT_STATE, only, Matcher(c.BREAKER_STATE, '=', state), group=group)} * {index}"
        for index, state in enumerate(c.BREAKER_STATES)
    )
    outcome = label(c.CIRCUIT_CALLS, "outcome")
    decided = Matcher(outcome, "=~", f"{value(outcome, 'success')}|{value(outcome, 'failure')}")
    failures = rate(c.CIRCUIT_CALLS, only, _outcome(c.CIRCUIT_CALLS, "failure"), group=(c.BREAKER_NAME,))
    calls = rate(c.CIRCUIT_CALLS, only, decided, group=(c.BREAKER_NAME,))
    rows = (
        Row(
            title="State",
            panels=(
                Panel(
                    title="Breaker state",
                    description="State per breaker and instance, from the one-hot state gauge.",
                    unit="none",
                    kind="state-timeline",
                    queries=(Query(state_code, _legend(c.BREAKER_NAME, INSTANCE)),),
                    width=24,
                    mappings=tuple((i, s, _STATE_COLOURS[s]) for i, s in enumerate(c.BREAKER_STATES)),
                ),
                Panel(
                    title="Time in state",
                    description="Share of time each breaker spent in each state (counted at scrape time, "
                    "so opens shorter than a scrape still show).",
                    unit="percentunit",
                    queries=(
                        Query(
                            rate(c.CIRCUIT_TIME_IN_STATE, only, group=(c.BREAKER_NAME, c.BREAKER_STATE)),
                            _legend(c.BREAKER_NAME, c.BREAKER_STATE),
                        ),
                    ),
                    stack=True,
                ),
                Panel(
                    title="Transitions",
                    description="State transitions per rate interval, by the state left and the state entered.",
                    unit="short",
                    queries=(
                        Query(
                            rate(
                                c.CIRCUIT_TRANSITIONS,
                                only,
                                group=(c.BREAKER_NAME, *c.CIRCUIT_TRANSITIONS.labels[1:]),
                                fn="increase",
                            ),
                            _legend(*c.CIRCUIT_TRANSITIONS.labels),
                        ),
                    ),
                ),
            ),
        ),
        Row(
            title="Calls",
            panels=(
                Panel(
                    title="Calls by outcome",
                    description="Calls through each breaker; rejected calls never reached the dependency.",
                    unit="ops",
                    queries=(
                        Query(
                            rate(c.CIRCUIT_CALLS, only, group=(c.BREAKER_NAME, outcome)),
                            _legend(c.BREAKER_NAME, outcome),
                        ),
                    ),
                    stack=True,
                ),
                Panel(
                    title="Failure ratio",
                    description="Failed / (successful + failed) calls per breaker; the red line is the "
                    f"reference failure ratio ({BREAKER_FAILURE_RATIO_THRESHOLD:.0%}).",
                    unit="percentunit",
                    queries=(Query(ratio(failures, calls), _legend(c.BREAKER_NAME)),),
                    threshold=BREAKER_FAILURE_RATIO_THRESHOLD,
                ),
            ),
        ),
    )
    return _board(
        "rt-breakers",
        "Circuit breakers",
        "State, time in state, transitions and calls of every circuit breaker.",
        rows,
        var,
    )


# --- retries ------------------------------------------------------------------------------------------
def retries() -> Board:
    var = _component("retry", "Retry", c.RETRY_CALLS, c.RETRY_NAME)
    only = _only(c.RETRY_NAME, var)
    group = (c.RETRY_NAME,)
    outcome = label(c.RETRY_CALLS, "outcome")
    amplification = f"{rate(c.RETRY_ATTEMPTS, only, group=group)} / {rate(c.RETRY_CALLS, only, group=group)}"
    top_errors = f"topk(10, {rate(c.RETRY_SCHEDULED, only, group=(c.RETRY_NAME, c.ERROR_TYPE))})"
    rows = (
        Row(
            title="Calls",
            panels=(
                Panel(
                    title="Calls by outcome",
                    description="Retried calls by final outcome: first-attempt success, success after retry, "
                    "exhausted, not retryable.",
                    unit="ops",
                    queries=(
                        Query(rate(c.RETRY_CALLS, only, group=(c.RETRY_NAME, outcome)), _legend(*group, outcome)),
                    ),
                    stack=True,
                ),
                Panel(
                    title="Amplification",
                    description="Attempts per call: 1 means no retries; 3 means the dependency sees three "
                    "times the traffic.",
                    unit="none",
                    queries=(Query(amplification, _legend(*group)),),
                ),
            ),
        ),
        Row(
            title="Attempts and backoff",
            panels=(
                Panel(
                    title="Attempts per call",
                    description="Attempts a call needed before it finished, whatever the outcome.",
                    unit="short",
                    queries=_latency(c.RETRY_ATTEMPTS_PER_CALL, only, group=group),
                    width=8,
                ),
                Panel(
                    title="Backoff per call",
                    description="Total time a call slept between attempts.",
                    unit="s",
                    queries=_latency(c.RETRY_BACKOFF, only, group=group),
                    width=8,
                ),
                Panel(
                    title="Top error types",
                    description="The ten error types causing the most retries (bounded `error.type`).",
                    unit="ops",
                    queries=(Query(top_errors, _legend(c.RETRY_NAME, c.ERROR_TYPE)),),
                    width=8,
                ),
            ),
        ),
    )
    return _board(
        "rt-retries", "Retries", "Outcomes, attempts, amplification, backoff and errors of retries.", rows, var
    )


# --- connection pools -----------------------------------------------------------------------------------
def pools() -> Board:
    var = _component("pool", "Pool", c.DB_CLIENT_CONNECTION_MAX, c.POOL_NAME)
    only = _only(c.POOL_NAME, var)
    group = (INSTANCE, c.POOL_NAME)
    state = label(c.DB_CLIENT_CONNECTION_COUNT, "db.client.connection.state")
    legend = _legend(c.POOL_NAME, INSTANCE)
    invalidation = label(c.POOL_INVALIDATIONS, "invalidation")
    rows = (
        Row(
            title="Usage",
            panels=(
                Panel(
                    title="Used vs max",
                    description="Connections checked out against the most the pool allows (size + overflow).",
                    unit="short",
                    queries=(
                        Query(
                            aggregate(
                                "sum", c.DB_CLIENT_CONNECTION_COUNT, only, Matcher(state, "=", "used"), group=group
                            ),
                            f"used {legend}",
                        ),
                        Query(aggregate("sum", c.DB_CLIENT_CONNECTION_MAX, only, group=group), f"max {legend}"),
                    ),
                    width=8,
                ),
                Panel(
                    title="Idle",
                    description="Idle connections kept in the pool.",
                    unit="short",
                    queries=(
                        Query(
                            aggregate(
                                "sum", c.DB_CLIENT_CONNECTION_COUNT, only, Matcher(state, "=", "idle"), group=group
                            ),
                            legend,
                        ),
                    ),
                    width=8,
                ),
                Panel(
                    title="Pending requests",
                    description="Checkouts waiting for a connection right now.",
                    unit="short",
                    queries=(
                        Query(aggregate("sum", c.DB_CLIENT_CONNECTION_PENDING_REQUESTS, only, group=group), legend),
                    ),
                    width=8,
                ),
            ),
        ),
        Row(
            title="Waits and failures",
            panels=(
                Panel(
                    title="Wait time",
                    description="Time a checkout waited for a connection; exemplars link to the waiting trace.",
                    unit="s",
                    queries=_latency(c.DB_CLIENT_CONNECTION_WAIT_TIME, only, group=(c.POOL_NAME,)),
                    width=8,
                ),
                Panel(
                    title="Timeouts",
                    description="Checkouts that gave up waiting (pool timeout).",
                    unit="ops",
                    queries=(
                        Query(rate(c.DB_CLIENT_CONNECTION_TIMEOUTS, only, group=(c.POOL_NAME,)), _legend(c.POOL_NAME)),
                    ),
                    width=8,
                ),
                Panel(
                    title="Exhaustion and leaks",
                    description="Checkouts that found the pool exhausted, and connections reclaimed by the garbage "
                    "collector instead of being returned (a leak).",
                    unit="ops",
                    queries=(
                        Query(rate(c.POOL_EXHAUSTED, only, group=(c.POOL_NAME,)), f"exhausted {_legend(c.POOL_NAME)}"),
                        Query(rate(c.POOL_GC_RETURNED, only, group=(c.POOL_NAME,)), f"leaked {_legend(c.POOL_NAME)}"),
                    ),
                    width=8,
                ),
            ),
        ),
        Row(
            title="Connections",
            panels=(
                Panel(
                    title="Invalidations",
                    description="Connections invalidated (hard: closed now; soft: replaced at next checkout), "
                    "by error type.",
                    unit="ops",
                    queries=(
                        Query(
                            rate(c.POOL_INVALIDATIONS, only, group=(c.POOL_NAME, invalidation, c.ERROR_TYPE)),
                            _legend(c.POOL_NAME, invalidation, c.ERROR_TYPE),
                        ),
                    ),
                ),
                Panel(
                    title="Create and use time (p95)",
                    description="Time to open a new connection, and time between checkout and return.",
                    unit="s",
                    queries=(
                        Query(
                            quantile(0.95, c.DB_CLIENT_CONNECTION_CREATE_TIME, only, group=(c.POOL_NAME,)),
                            f"create {_legend(c.POOL_NAME)}",
                        ),
                        Query(
                            quantile(0.95, c.DB_CLIENT_CONNECTION_USE_TIME, only, group=(c.POOL_NAME,)),
                            f"use {_legend(c.POOL_NAME)}",
                            exemplar=True,
                        ),
                    ),
                ),
            ),
        ),
    )
    return _board(
        "rt-pools", "Connection pools", "Usage, waits, timeouts and invalidations of database pools.", rows, var
    )


# --- outbox and DLQ ---------------------------------------------------------------------------------
def queues() -> Board:
    table_var = _component("outbox_table", "Outbox table", c.OUTBOX_OLDEST_PENDING_AGE, _TABLE)
    queue_var = _component("queue", "Queue", c.DLQ_DEPTH, c.QUEUE)
    table = _only(_TABLE, table_var)
    queue = _only(c.QUEUE, queue_var)
    status = label(c.OUTBOX_ROWS, "status")
    dispatch_outcome = label(c.OUTBOX_DISPATCHED, "outcome")
    reason = label(c.DLQ_DEAD_LETTERED, "reason")
    heartbeat_age = f"time() - {aggregate('max', c.OUTBOX_RELAY_HEARTBEAT, group=(INSTANCE,))}"
    outbox = Row(
        title="Outbox",
        panels=(
            Panel(
                title="Backlog",
                description="Outbox rows by status, read from the outbox table at scrape time.",
                unit="short",
                queries=(
                    Query(aggregate("sum", c.OUTBOX_ROWS, table, group=(_TABLE, status)), _legend(_TABLE, status)),
                ),
                width=8,
                stack=True,
            ),
            Panel(
                title="Oldest pending age",
                description="Age of the oldest pending row; it grows when the relay is behind or stuck.",
                unit="s",
                queries=(
                    Query(aggregate("max", c.OUTBOX_OLDEST_PENDING_AGE, table, group=(_TABLE,)), _legend(_TABLE)),
                ),
                width=8,
            ),
            Panel(
                title="Relay heartbeat age",
                description="Seconds since the relay's last completed poll; a rising line is a stalled relay.",
                unit="s",
                queries=(Query(heartbeat_age, _legend(INSTANCE)),),
                width=8,
            ),
            Panel(
                title="Delivery lag",
                description="Time from an outbox row's creation to its publication; exemplars link to the relay trace.",
                unit="s",
                queries=_latency(c.OUTBOX_DELIVERY_LAG, group=(c.DESTINATION,)),
                width=8,
            ),
            Panel(
                title="Dispatch outcomes",
                description="Relay dispatch attempts by destination and outcome.",
                unit="cps",
                queries=(
                    Query(
                        rate(c.OUTBOX_DISPATCHED, group=(c.DESTINATION, dispatch_outcome)),
                        _legend(c.DESTINATION, dispatch_outcome),
                    ),
                ),
                width=8,
                stack=True,
            ),
            Panel(
                title="Enqueued",
                description="Messages written to the outbox (counted after commit), by destination.",
                unit="cps",
                queries=(Query(rate(c.OUTBOX_ENQUEUED, group=(c.DESTINATION,)), _legend(c.DESTINATION)),),
                width=8,
            ),
            Panel(
                title="Batch size",
                description="Rows the relay claimed per poll (p50, p95).",
                unit="short",
                queries=(
                    Query(quantile(0.5, c.OUTBOX_BATCH_SIZE), "p50"),
                    Query(quantile(0.95, c.OUTBOX_BATCH_SIZE), "p95"),
                ),
            ),
            Panel(
                title="Backlog reading",
                description="Whether the backlog values are fresh or a cached reading (the table query failed).",
                unit="none",
                kind="state-timeline",
                queries=(Query(aggregate("max", c.OUTBOX_BACKLOG_STALE, table, group=(_TABLE,)), _legend(_TABLE)),),
                mappings=((0, "fresh", "green"), (1, "stale", "orange")),
            ),
        ),
    )
    dlq = Row(
        title="Dead-letter queues",
        panels=(
            Panel(
                title="DLQ inflow by reason",
                description="Messages dead-lettered per second, by source queue and reason.",
                unit="cps",
                queries=(Query(rate(c.DLQ_DEAD_LETTERED, queue, group=(c.QUEUE, reason)), _legend(c.QUEUE, reason)),),
                width=8,
                stack=True,
            ),
            Panel(
                title="DLQ depth",
                description="Messages waiting in each dead-letter queue.",
                unit="short",
                queries=(Query(aggregate("max", c.DLQ_DEPTH, queue, group=(c.QUEUE,)), _legend(c.QUEUE)),),
                width=8,
            ),
            Panel(
                title="DLQ oldest message age",
                description="Age of the oldest dead-lettered message; nobody is draining the queue when it grows.",
                unit="s",
                queries=(Query(aggregate("max", c.DLQ_OLDEST_AGE, queue, group=(c.QUEUE,)), _legend(c.QUEUE)),),
                width=8,
            ),
            Panel(
                title="Redrives",
                description="Messages moved from a dead-letter queue back to their queue, by outcome.",
                unit="cps",
                queries=(
                    Query(
                        rate(c.DLQ_REDRIVES, queue, group=(c.QUEUE, label(c.DLQ_REDRIVES, "outcome"))),
                        _legend(c.QUEUE, label(c.DLQ_REDRIVES, "outcome")),
                    ),
                ),
            ),
            Panel(
                title="Consumer outcomes",
                description="Messages consumers handled: success, retry, dead-lettered, duplicate.",
                unit="cps",
                queries=(
                    Query(
                        rate(c.CONSUMER_MESSAGES, queue, group=(c.QUEUE, label(c.CONSUMER_MESSAGES, "outcome"))),
                        _legend(c.QUEUE, label(c.CONSUMER_MESSAGES, "outcome")),
                    ),
                ),
                stack=True,
            ),
        ),
    )
    return _board(
        "rt-outbox-dlq",
        "Outbox and DLQ",
        "Transactional outbox backlog, lag and relay health; dead-letter inflow, depth, age and redrives.",
        (outbox, dlq),
        table_var,
        queue_var,
    )


# --- dependencies and health ---------------------------------------------------------------------------
def dependencies() -> Board:
    dep_var = _component("dependency", "Dependency", c.DEPENDENCY_OPERATIONS, c.DEPENDENCY)
    check_var = _component("check", "Health check", c.HEALTH_CHECKS, c.CHECK)
    dep = _only(c.DEPENDENCY, dep_var)
    check = _only(c.CHECK, check_var)
    dep_outcome = label(c.DEPENDENCY_OPERATIONS, "outcome")
    check_outcome = label(c.HEALTH_CHECKS, "outcome")
    dep_failed = rate(
        c.DEPENDENCY_OPERATIONS, dep, _outcome(c.DEPENDENCY_OPERATIONS, "success", "!="), group=(c.DEPENDENCY,)
    )
    dep_all = rate(c.DEPENDENCY_OPERATIONS, dep, group=(c.DEPENDENCY,))
    check_failed = rate(c.HEALTH_CHECKS, check, _outcome(c.HEALTH_CHECKS, "success", "!="), group=(c.CHECK,))
    check_all = rate(c.HEALTH_CHECKS, check, group=(c.CHECK,))
    component = label(c.DEGRADED, "component")
    rows = (
        Row(
            title="Dependencies (S3 and others)",
            panels=(
                Panel(
                    title="Operations by outcome",
                    description="Dependency operations per second by operation and outcome.",
                    unit="ops",
                    queries=(
                        Query(
                            rate(c.DEPENDENCY_OPERATIONS, dep, group=(c.DEPENDENCY, c.OPERATION, dep_outcome)),
                            _legend(c.DEPENDENCY, c.OPERATION, dep_outcome),
                        ),
                    ),
                    stack=True,
                ),
                Panel(
                    title="Failure ratio",
                    description="Share of failed operations per dependency; the red line is the S3 alert threshold.",
                    unit="percentunit",
                    queries=(Query(ratio(dep_failed, dep_all), _legend(c.DEPENDENCY)),),
                    threshold=DEPENDENCY_FAILURE_RATIO_THRESHOLD,
                ),
                Panel(
                    title="Latency",
                    description="Operation duration including the client's own retries; exemplars link to traces.",
                    unit="s",
                    queries=_latency(c.DEPENDENCY_DURATION, dep, group=(c.DEPENDENCY,)),
                ),
                Panel(
                    title="Client library retries",
                    description="Retries the dependency's client library made on its own (e.g. botocore).",
                    unit="ops",
                    queries=(
                        Query(
                            rate(c.DEPENDENCY_CLIENT_RETRIES, dep, group=(c.DEPENDENCY, c.OPERATION)),
                            _legend(c.DEPENDENCY, c.OPERATION),
                        ),
                    ),
                ),
            ),
        ),
        Row(
            title="Health checks",
            panels=(
                Panel(
                    title="Check results",
                    description="Health check runs by check and outcome (a timeout counts as a failure).",
                    unit="ops",
                    queries=(
                        Query(
                            rate(c.HEALTH_CHECKS, check, group=(c.CHECK, check_outcome)),
                            _legend(c.CHECK, check_outcome),
                        ),
                    ),
                    width=8,
                    stack=True,
                ),
                Panel(
                    title="Check failure ratio",
                    description="Share of failed or timed-out runs per check; the red line is the alert threshold.",
                    unit="percentunit",
                    queries=(Query(ratio(check_failed, check_all), _legend(c.CHECK)),),
                    width=8,
                    threshold=HEALTH_FAILURE_RATIO_THRESHOLD,
                ),
                Panel(
                    title="Check duration",
                    description="Duration of health check runs.",
                    unit="s",
                    queries=_latency(c.HEALTH_CHECK_DURATION, check, group=(c.CHECK,)),
                    width=8,
                ),
            ),
        ),
        Row(
            title="Degraded mode and fallbacks",
            panels=(
                Panel(
                    title="Degraded components",
                    description="Components running in degraded mode.",
                    unit="none",
                    kind="state-timeline",
                    queries=(Query(aggregate("max", c.DEGRADED, group=(component,)), _legend(component)),),
                    mappings=((0, "normal", "green"), (1, "degraded", "orange")),
                ),
                Panel(
                    title="Fallback activations",
                    description="Times a fallback answered instead of the primary path, by operation and reason.",
                    unit="ops",
                    queries=(
                        Query(
                            rate(c.FALLBACK_ACTIVATIONS, group=(c.OPERATION, label(c.FALLBACK_ACTIVATIONS, "reason"))),
                            _legend(c.OPERATION, label(c.FALLBACK_ACTIVATIONS, "reason")),
                        ),
                    ),
                    stack=True,
                ),
            ),
        ),
    )
    return _board(
        "rt-dependencies",
        "Dependencies and health",
        "Dependency operations (S3 and others), health-check results and degraded components.",
        rows,
        dep_var,
        check_var,
    )


BOARDS: Final[tuple[Callable[[], Board], ...]] = (overview, breakers, retries, pools, queues, dependencies)
