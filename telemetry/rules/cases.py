"""promtool unit tests of the default rules (``alerts/tests/<family>.test.yml``).

Each case states input series and, per check, the alerts expected at that time with their
exact labels and their rendered description, written out literally below. Summaries come
from the rule with the same name and severity; the three links are rendered for the expected
labels the way Prometheus renders them. Every alert gets at least one firing check and one
``exp_alerts: []`` check (Watchdog, which always fires, only the first).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from telemetry import catalog as c
from telemetry.rules.definitions import families
from telemetry.rules.render import HEADER, alert_annotations, dump

if TYPE_CHECKING:
    from collections.abc import Callable

    from telemetry.rules.config import RulesConfig
    from telemetry.rules.definitions import AlertRule

__all__ = ["Case", "Check", "Fired", "cases", "test_files"]

API: Final = {"service": "api", "instance": "app-1:8000"}
RATIO: Final = "service_dependency:resilience_dependency_operations_failed:ratio_rate5m"


@dataclass(frozen=True, slots=True)
class Fired:
    labels: dict[str, str]  # every label of the alert, severity included
    description: str


@dataclass(frozen=True, slots=True)
class Check:
    alert: str
    at: str
    fired: tuple[Fired, ...] = ()


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    series: tuple[tuple[str, str], ...]
    checks: tuple[Check, ...]
    interval: str = "1m"
    exprs: tuple[dict[str, Any], ...] = ()


def s(spec: c.MetricSpec, suffix: str = "", **labels: str) -> str:
    """A test series name: ``metric{label="value"}`` with the catalog's Prometheus name."""
    inner = ", ".join(f'{key}="{value}"' for key, value in labels.items())
    return f"{spec.prom}{suffix}{{{inner}}}"


def seq(count: int, value: Callable[[int], float]) -> str:
    """An explicit value list for samples 0..count-1."""
    return " ".join(format(value(i), "g") for i in range(count))


def _breaker() -> list[Case]:
    state, tis, trans = c.CIRCUIT_STATE, c.CIRCUIT_TIME_IN_STATE, c.CIRCUIT_TRANSITIONS
    s3 = {**API, "breaker_name": "s3"}
    db = {**API, "breaker_name": "db"}
    open_s3 = Fired(
        {"severity": "critical", **s3, "dependency": "s3"},
        "Breaker s3 of api on app-1:8000 has been open or half-open for more than 5m; calls to it are rejected.",
    )
    cycle = [1] * 6 + [1 if (i // 3) % 2 == 0 else 0 for i in range(60)]  # 10s steps: open 30s, half-open 30s
    return [
        Case(
            name="breaker open since 1m: pending at 4m59s of not-closed time, firing at 5m01s; closed breaker never",
            interval="1s",
            series=(
                (s(state, **s3, state="closed"), "1x59 0x600"),
                (s(state, **s3, state="open"), "0x59 1x600"),
                (s(state, **s3, state="half_open"), "0x660"),
                (s(state, **db, state="closed"), "1x660"),
                (s(state, **db, state="open"), "0x660"),
                (s(state, **db, state="half_open"), "0x660"),
            ),
            checks=(
                Check("CircuitBreakerOpen", "5m59s"),
                Check("CircuitBreakerOpen", "6m1s", (open_s3,)),
            ),
        ),
        Case(
            name="breaker cycling open <-> half-open fires (a naive open==1 for 5m would not)",
            interval="10s",
            series=(
                (s(state, **s3, state="closed"), "1x5 0x60"),
                (s(state, **s3, state="open"), "0x5 " + " ".join(str(v) for v in cycle[6:])),
                (s(state, **s3, state="half_open"), "0x5 " + " ".join(str(1 - v) for v in cycle[6:])),
            ),
            checks=(
                Check("CircuitBreakerOpen", "4m"),
                Check("CircuitBreakerOpen", "6m10s", (open_s3,)),
            ),
        ),
        Case(
            name="breaker metrics missing: nothing fires",
            series=((s(c.TELEMETRY_INFO, **API, version="0.1.0"), "1x20"),),
            checks=(Check("CircuitBreakerOpen", "15m"),),
        ),
        Case(
            name="three closed->open transitions in 30m flap, across a counter reset; one open does not",
            series=(
                (
                    s(trans, **s3, from_state="closed", to_state="open"),
                    seq(45, lambda t: t // 5 if t < 22 else (t - 20) // 5),
                ),
                (s(trans, **db, from_state="closed", to_state="open"), "0x10 1x35"),
            ),
            checks=(
                Check("CircuitBreakerFlapping", "4m"),
                Check(
                    "CircuitBreakerFlapping",
                    "40m",
                    (
                        Fired(
                            {"severity": "warning", **s3},
                            "Breaker s3 of api on app-1:8000 opened 6 times in the last 30m.",
                        ),
                    ),
                ),
            ),
        ),
        Case(
            name="a third of the time open (from time-in-state) fires; always closed does not",
            series=(
                (s(tis, **s3, state="closed"), "0+40x30"),
                (s(tis, **s3, state="open"), "0+20x30"),
                (s(tis, **s3, state="half_open"), "0x30"),
                (s(tis, **db, state="closed"), "0+60x30"),
                (s(tis, **db, state="open"), "0x30"),
                (s(tis, **db, state="half_open"), "0x30"),
            ),
            checks=(
                Check("CircuitBreakerOpenTimeHigh", "3m"),
                Check(
                    "CircuitBreakerOpenTimeHigh",
                    "25m",
                    (
                        Fired(
                            {"severity": "warning", **s3},
                            "Breaker s3 of api on app-1:8000 was open or half-open 33.33% of the last 15m, "
                            "counting opens shorter than a scrape.",
                        ),
                    ),
                ),
            ),
        ),
    ]


def _pool() -> list[Case]:
    pool = c.POOL_NAME.prom
    state = c.DB_CLIENT_CONNECTION_COUNT.labels[1].prom
    main = {**API, pool: "main"}
    replica = {**API, pool: "replica"}
    return [
        Case(
            name="checkout timeouts fire and resolve once the window has none; a quiet pool never",
            series=(
                (s(c.DB_CLIENT_CONNECTION_TIMEOUTS, **main), "0x4 1 2 3x20"),
                (s(c.DB_CLIENT_CONNECTION_TIMEOUTS, **replica), "0x26"),
            ),
            checks=(
                Check("DatabasePoolTimeouts", "3m"),
                Check(
                    "DatabasePoolTimeouts",
                    "7m",
                    (
                        Fired(
                            {"severity": "critical", "service": "api", pool: "main"},
                            "Pool main of api had 3 checkout timeouts in the last 5m; requests fail waiting "
                            "for a connection.",
                        ),
                    ),
                ),
                Check("DatabasePoolTimeouts", "20m"),
            ),
        ),
        Case(
            name="waiters for 5m fire; waiters that come and go do not",
            series=(
                (s(c.DB_CLIENT_CONNECTION_PENDING_REQUESTS, **main), "0 0 2x10"),
                (s(c.DB_CLIENT_CONNECTION_PENDING_REQUESTS, **replica), seq(12, lambda t: 3 * (t % 2))),
            ),
            checks=(
                Check("DatabasePoolWaiters", "6m"),
                Check(
                    "DatabasePoolWaiters",
                    "8m",
                    (
                        Fired(
                            {"severity": "warning", **main},
                            "Pool main of api on app-1:8000 has had checkouts waiting for 5m; 2 are waiting now.",
                        ),
                    ),
                ),
            ),
        ),
        Case(
            name="used == max for 5m fires; a pool with room does not",
            series=(
                (s(c.DB_CLIENT_CONNECTION_COUNT, **main, **{state: "used"}), "10x10"),
                (s(c.DB_CLIENT_CONNECTION_COUNT, **main, **{state: "idle"}), "0x10"),
                (s(c.DB_CLIENT_CONNECTION_MAX, **main), "10x10"),
                (s(c.DB_CLIENT_CONNECTION_COUNT, **replica, **{state: "used"}), "3x10"),
                (s(c.DB_CLIENT_CONNECTION_COUNT, **replica, **{state: "idle"}), "2x10"),
                (s(c.DB_CLIENT_CONNECTION_MAX, **replica), "10x10"),
            ),
            checks=(
                Check("DatabasePoolSaturated", "4m"),
                Check(
                    "DatabasePoolSaturated",
                    "6m",
                    (
                        Fired(
                            {"severity": "warning", **main},
                            "Pool main of api on app-1:8000 has used all 10 connections for 5m.",
                        ),
                    ),
                ),
            ),
        ),
    ]


def _dependency() -> list[Case]:
    ops, checks = c.DEPENDENCY_OPERATIONS, c.HEALTH_CHECKS
    return [
        Case(
            name=(
                "S3 failing 40% at 30 ops/min fires, across a restart that resets the counters; "
                "100% failing at 1 op/min is below the traffic guard"
            ),
            series=(
                (s(ops, **API, dependency="s3", operation="PutObject", outcome="server_error"), "0+12x10 0+12x9"),
                (s(ops, **API, dependency="s3", operation="PutObject", outcome="success"), "0+18x10 0+18x9"),
                (s(ops, **API, dependency="billing", operation="Charge", outcome="timeout"), "0+1x20"),
            ),
            exprs=(
                {
                    "expr": RATIO,
                    "eval_time": "20m",
                    "exp_samples": [
                        {
                            "labels": f'{RATIO}{{dependency="billing", service="api"}}',
                            "value": 1,
                        },
                        {
                            "labels": f'{RATIO}{{dependency="s3", service="api"}}',
                            "value": 0.4,
                        },
                    ],
                },
            ),
            checks=(
                Check("DependencyFailureRatioHigh", "4m"),
                Check(
                    "DependencyFailureRatioHigh",
                    "15m",
                    (
                        Fired(
                            {"severity": "critical", "service": "api", "dependency": "s3"},
                            "40% of the operations of api on s3 failed over the last 5m.",
                        ),
                    ),
                ),
            ),
        ),
        Case(
            name="health check failing 2 of 3 runs fires; one failing run in 6 minutes does not",
            series=(
                (s(checks, **API, check="s3", outcome="failure"), "0+2x20"),
                (s(checks, **API, check="s3", outcome="success"), "0+1x20"),
                (s(checks, **API, check="redis", outcome="failure"), seq(21, lambda t: t // 6)),
            ),
            checks=(
                Check("HealthCheckFailureRatioHigh", "4m"),
                Check(
                    "HealthCheckFailureRatioHigh",
                    "15m",
                    (
                        Fired(
                            {"severity": "warning", "service": "api", "check": "s3", "dependency": "s3"},
                            "Health check s3 of api failed 66.67% of its runs over the last 5m.",
                        ),
                    ),
                ),
            ),
        ),
    ]


def _retry() -> list[Case]:
    calls, attempts = c.RETRY_CALLS, c.RETRY_ATTEMPTS
    charge = {**API, "retry_name": "charge"}
    lookup = {**API, "retry_name": "lookup"}
    labels = {"severity": "warning", "service": "api", "retry_name": "charge"}
    return [
        Case(
            name="a quarter of calls exhausted at 3 attempts per call fires; the same at 1 call/min does not",
            series=(
                (s(calls, **charge, outcome="exhausted"), "0+3x20"),
                (s(calls, **charge, outcome="success_first_attempt"), "0+9x20"),
                (s(attempts, **charge), "0+36x20"),
                (s(calls, **lookup, outcome="exhausted"), "0+1x20"),
                (s(attempts, **lookup), "0+3x20"),
            ),
            checks=(
                Check("RetryExhaustionRatioHigh", "9m"),
                Check(
                    "RetryExhaustionRatioHigh",
                    "15m",
                    (Fired(labels, "25% of the calls of charge of api exhausted their retries."),),
                ),
                Check("RetryAmplificationHigh", "9m"),
                Check(
                    "RetryAmplificationHigh",
                    "15m",
                    (Fired(labels, "Calls of charge of api take 3 attempts on average."),),
                ),
            ),
        ),
    ]


def _outbox() -> list[Case]:
    table = c.OUTBOX_OLDEST_PENDING_AGE.labels[0].prom
    status = c.OUTBOX_ROWS.labels[1].prom
    dest = c.DESTINATION.prom
    worker = {"service": "worker", "instance": "worker-1:8000"}
    labels = {"service": "api", table: "outbox"}

    def stale(severity: str, limit: int, age: str) -> Fired:
        return Fired(
            {"severity": severity, **labels},
            f"The oldest pending row of outbox in api is {age} old (limit {limit}s).",
        )

    return [
        Case(
            name="oldest pending age: warning past 300s, critical past 900s, each after 5m",
            series=((s(c.OUTBOX_OLDEST_PENDING_AGE, **API, **{table: "outbox"}), "0+60x30"),),
            checks=(
                Check("OutboxBacklogStale", "10m"),
                Check("OutboxBacklogStale", "12m", (stale("warning", 300, "12m 0s"),)),
                Check(
                    "OutboxBacklogStale",
                    "22m",
                    (stale("warning", 300, "22m 0s"), stale("critical", 900, "22m 0s")),
                ),
            ),
        ),
        Case(
            name="pending rows and nothing published stall the relay; a relay that publishes does not",
            series=(
                (s(c.OUTBOX_ROWS, **API, **{table: "outbox", status: "pending"}), "5x30"),
                (s(c.OUTBOX_DISPATCHED, **API, **{dest: "orders", "outcome": "published"}), "100x30"),
                (s(c.OUTBOX_ROWS, **worker, **{table: "outbox", status: "pending"}), "5x30"),
                (s(c.OUTBOX_DISPATCHED, **worker, **{dest: "orders", "outcome": "published"}), "0+10x30"),
            ),
            checks=(
                Check("OutboxRelayStalled", "3m"),
                Check(
                    "OutboxRelayStalled",
                    "12m",
                    (
                        Fired(
                            {"severity": "critical", **labels},
                            "5 rows are pending in outbox of api and nothing was published in 10m.",
                        ),
                    ),
                ),
            ),
        ),
        Case(
            name="a heartbeat frozen at 5m is stale after 2m more plus 5m; a beating relay is not",
            series=(
                (s(c.OUTBOX_RELAY_HEARTBEAT, **API), "0+60x5 300x25"),
                (s(c.OUTBOX_RELAY_HEARTBEAT, **worker), "0+60x30"),
            ),
            checks=(
                Check("OutboxRelayHeartbeatStale", "9m"),
                Check(
                    "OutboxRelayHeartbeatStale",
                    "13m",
                    (
                        Fired(
                            {"severity": "critical", "service": "api"},
                            "The outbox relay of api last had a healthy poll 8m 0s ago.",
                        ),
                    ),
                ),
            ),
        ),
    ]


def _dlq() -> list[Case]:
    dead, oldest = c.DLQ_DEAD_LETTERED, c.DLQ_OLDEST_AGE
    reason = {"reason": "rejected", c.ERROR_TYPE.prom: "ValueError"}
    return [
        Case(
            name="two dead-lettered messages fire; a queue with none does not; the alert resolves",
            series=(
                (s(dead, **API, queue="orders", **reason), "0x9 1 2x20"),
                (s(dead, **API, queue="payments", **reason), "0x30"),
            ),
            checks=(
                Check("DeadLetterInflow", "9m"),
                Check(
                    "DeadLetterInflow",
                    "13m",
                    (
                        Fired(
                            {"severity": "warning", "service": "api", "queue": "orders"},
                            "2 messages from orders of api were dead-lettered in the last 10m.",
                        ),
                    ),
                ),
                Check("DeadLetterInflow", "25m"),
            ),
        ),
        Case(
            name="a dead letter older than 1h for 10m is stale",
            series=((s(oldest, **API, queue="orders.dlq"), "0+60x80"),),
            checks=(
                Check("DeadLetterQueueStale", "65m"),
                Check(
                    "DeadLetterQueueStale",
                    "75m",
                    (
                        Fired(
                            {"severity": "warning", "service": "api", "queue": "orders.dlq"},
                            "The oldest message in orders.dlq of api is 1h 15m 0s old.",
                        ),
                    ),
                ),
            ),
        ),
    ]


def _meta(cfg: RulesConfig) -> list[Case]:
    info = c.TELEMETRY_INFO
    return [
        Case(
            name="degraded for 10m fires; flickering degraded mode does not",
            series=(
                (s(c.DEGRADED, **API, component="avatars"), "0 0 1x20"),
                (s(c.DEGRADED, **API, component="search"), seq(22, lambda t: t % 2)),
            ),
            checks=(
                Check("DegradedModeActive", "11m"),
                Check(
                    "DegradedModeActive",
                    "13m",
                    (
                        Fired(
                            {"severity": "warning", "service": "api", "component": "avatars"},
                            "avatars of api has been degraded for more than 10m.",
                        ),
                    ),
                ),
            ),
        ),
        Case(
            name="telemetry missing since 10m fires after staleness + 5m; gone for over an hour it stops",
            series=(
                (s(info, **API, version="0.1.0"), "1x10 _x80"),
                (s(info, service="worker", instance="worker-1:8000", version="0.1.0"), "1x90"),
            ),
            checks=(
                Check("ResilienceTelemetryAbsent", "14m"),
                Check(
                    "ResilienceTelemetryAbsent",
                    "25m",
                    (
                        Fired(
                            {"severity": "warning", "service": "api"},
                            "api exported resilience metrics in the last 1h but exports none now.",
                        ),
                    ),
                ),
                Check("ResilienceTelemetryAbsent", "75m"),
            ),
        ),
        Case(
            name="Watchdog always fires",
            series=((s(info, **API, version="0.1.0"), "1x5"),),
            checks=(
                Check(
                    "Watchdog",
                    "1m",
                    (
                        Fired(
                            {"severity": "info", "service": cfg.watchdog_service},
                            "Watchdog fires while Prometheus evaluates rules and reaches Alertmanager.",
                        ),
                    ),
                ),
            ),
        ),
    ]


def _slo() -> list[Case]:
    spec = c.HTTP_SERVER_REQUEST_DURATION
    method, route, status = spec.label_names
    get = {method: "GET", route: "/orders"}
    web = {"service": "web", "instance": "web-1:8000"}
    pairs = (
        ("1h", "5m", "14.4", "critical"),
        ("6h", "30m", "6", "critical"),
        ("1d", "2h", "3", "warning"),
        ("3d", "6h", "1", "warning"),
    )

    def burns(what: str, value: str, objective: str) -> tuple[Fired, ...]:
        return tuple(
            Fired(
                {"severity": severity, "service": "api", "long": long, "short": short},
                f"{value} of the requests of api were {what} over the last {long} ({factor}x the budget of "
                f"the {objective}% objective).",
            )
            for long, short, factor, severity in pairs
        )

    return [
        Case(
            name="10% server errors burn every window pair; 0.05% burns none",
            series=(
                (s(spec, "_count", **API, **get, **{status: "500"}), "0+10x300"),
                (s(spec, "_count", **API, **get, **{status: "200"}), "0+90x300"),
                (s(spec, "_count", **web, **get, **{status: "500"}), "0+1x300"),
                (s(spec, "_count", **web, **get, **{status: "200"}), "0+1999x300"),
            ),
            checks=(
                Check("HttpAvailabilityBudgetBurn", "1m"),
                Check("HttpAvailabilityBudgetBurn", "4h", burns("server errors (5xx)", "10%", "99.9")),
            ),
        ),
        Case(
            name="20% of requests slower than 0.5s burn every window pair; 0.5% burns none",
            series=(
                (s(spec, "_count", **API, **get, **{status: "200"}), "0+100x300"),
                (s(spec, "_bucket", **API, **get, **{status: "200"}, le="0.5"), "0+80x300"),
                (s(spec, "_count", **web, **get, **{status: "200"}), "0+200x300"),
                (s(spec, "_bucket", **web, **get, **{status: "200"}, le="0.5"), "0+199x300"),
            ),
            checks=(
                Check("HttpLatencyBudgetBurn", "1m"),
                Check("HttpLatencyBudgetBurn", "4h", burns("requests slower than 0.5s", "20%", "99")),
            ),
        ),
    ]


def cases(cfg: RulesConfig) -> dict[str, list[Case]]:
    """Test cases by rule family, for the default config."""
    return {
        "breaker": _breaker(),
        "pool": _pool(),
        "dependency": _dependency(),
        "retry": _retry(),
        "outbox": _outbox(),
        "dlq": _dlq(),
        "meta": _meta(cfg),
        "slo": _slo(),
    }


def _rule_for(rules: list[AlertRule], name: str, labels: dict[str, str]) -> AlertRule:
    for rule in rules:
        if (
            rule.name == name
            and rule.severity == labels["severity"]
            and all(labels.get(key) == value for key, value in rule.labels)
        ):
            return rule
    msg = f"no rule {name} matches expected labels {labels}"
    raise ValueError(msg)


def test_files(cfg: RulesConfig) -> dict[Path, str]:
    files: dict[Path, str] = {}
    by_name = {family.name: family for family in families(cfg)}
    for family, family_cases in cases(cfg).items():
        rules = list(by_name[family].alerts)
        tests = []
        for case in family_cases:
            test: dict[str, Any] = {
                "name": case.name,
                "interval": case.interval,
                "input_series": [{"series": series, "values": values} for series, values in case.series],
            }
            if case.exprs:
                test["promql_expr_test"] = list(case.exprs)
            test["alert_rule_test"] = [
                {
                    "eval_time": check.at,
                    "alertname": check.alert,
                    "exp_alerts": [
                        {
                            "exp_labels": fired.labels,
                            "exp_annotations": {
                                **alert_annotations(
                                    cfg, by_name[family], _rule_for(rules, check.alert, fired.labels), fired.labels
                                ),
                                "description": fired.description,
                            },
                        }
                        for fired in check.fired
                    ],
                }
                for check in case.checks
            ]
            tests.append(test)
        document = {
            "rule_files": [f"../{family}.rules.yml"],
            "evaluation_interval": "1s" if family == "breaker" else "1m",
            "tests": tests,
        }
        files[Path("alerts/tests") / f"{family}.test.yml"] = HEADER + dump(document)
    return files
