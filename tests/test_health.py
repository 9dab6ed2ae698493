"""Health-check registry, FastAPI router, ready-made checks, fallbacks and degraded mode."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import telemetry
from telemetry.health import HealthRegistry, amqp_check, health_router, s3_check, sqlalchemy_check
from telemetry.testing import capture
from tests.conftest import port_open, require


class Leaky(RuntimeError):
    pass


async def passing() -> bool:
    return True


async def leaking() -> None:
    raise Leaky("postgresql://app:s3cr3t@db:5432/orders refused")


async def hanging() -> None:
    await asyncio.sleep(30)


def registry() -> HealthRegistry:
    health = HealthRegistry(timeout=1.0)
    health.add("database", passing)
    health.add("cache", leaking, critical=False)
    health.add("payments", hanging, timeout=0.05)
    return health


def client(health: HealthRegistry) -> Any:
    import httpx
    from fastapi import FastAPI

    app = FastAPI()
    app.include_router(health_router(health))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_checks_run_concurrently_and_a_hung_check_times_out() -> None:
    """Three checks, one hung: the run takes about the hung check's timeout, not the sum;
    the report says unhealthy (a critical check timed out) with per-check details."""
    health = registry()
    with capture() as cap:
        started = time.perf_counter()
        report = await health.run()
        elapsed = time.perf_counter() - started
    assert elapsed < 0.5
    body = report.as_dict()
    for check in body["checks"].values():
        assert check.pop("duration_s") >= 0
    assert body == {
        "status": "unhealthy",
        "checks": {
            "database": {
                "status": "pass",
                "outcome": "success",
                "critical": True,
                "error_type": None,
                "last_error_type": None,
            },
            "cache": {
                "status": "fail",
                "outcome": "failure",
                "critical": False,
                "error_type": "Leaky",
                "last_error_type": "Leaky",
            },
            "payments": {
                "status": "fail",
                "outcome": "timeout",
                "critical": True,
                "error_type": "TimeoutError",
                "last_error_type": "TimeoutError",
            },
        },
    }
    assert {
        (s["check"], s["outcome"]): cap.sample("resilience_health_checks_total", **s)
        for s in cap.series("resilience_health_checks_total")
    } == {("database", "success"): 1.0, ("cache", "failure"): 1.0, ("payments", "timeout"): 1.0}
    assert cap.sample("resilience_health_check_duration_seconds_count", check="payments") == 1.0
    assert [(log["event"], log["health.check"], log["log_level"]) for log in cap.logs] == [
        ("telemetry.health.check_passed", "database", "debug"),
        ("telemetry.health.check_failed", "cache", "warning"),
        ("telemetry.health.check_failed", "payments", "warning"),
    ]
    assert "s3cr3t" not in repr(cap.logs)


async def test_last_error_type_survives_a_recovery() -> None:
    """A check that failed once and then passes shows pass with its last error type."""
    state = {"fail": True}

    async def flapping() -> None:
        if state["fail"]:
            raise ConnectionResetError

    health = HealthRegistry()
    health.add("broker", flapping)
    with capture():
        await health.run()
        state["fail"] = False
        report = await health.run()
    [result] = report.checks
    assert (result.outcome, result.error_type, result.last_error_type) == ("success", None, "ConnectionResetError")
    assert report.status == "healthy"


async def test_router_live_ready_detailed_and_no_secret_leaks() -> None:
    """/live answers 200; /ready 503 while a critical check fails; /detailed carries per-check
    status and error types but never the exception message with its password."""
    with capture():
        async with client(registry()) as http:
            live = await http.get("/health/live")
            ready = await http.get("/health/ready")
            detailed = await http.get("/health/detailed")
    assert (live.status_code, live.json()) == (200, {"status": "alive"})
    assert (ready.status_code, ready.json()) == (
        503,
        {"status": "not_ready", "checks": {"database": "pass", "payments": "fail"}},
    )
    assert detailed.status_code == 503
    assert detailed.json()["status"] == "unhealthy"
    assert detailed.json()["checks"]["cache"]["error_type"] == "Leaky"
    assert "s3cr3t" not in detailed.text
    assert "refused" not in detailed.text


async def test_router_ready_when_only_non_critical_checks_fail() -> None:
    """A failing non-critical check leaves /ready at 200 and /detailed says degraded."""
    health = HealthRegistry()
    health.add("database", passing)
    health.add("cache", leaking, critical=False)
    with capture():
        async with client(health) as http:
            ready = await http.get("/health/ready")
            detailed = await http.get("/health/detailed")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready", "checks": {"database": "pass"}})
    assert (detailed.status_code, detailed.json()["status"]) == (200, "degraded")


async def test_sync_checks_false_results_and_registration_errors() -> None:
    """A sync check runs in a thread; returning False fails it; duplicate names are refused."""
    health = HealthRegistry()

    @health.check()
    def disk() -> bool:
        return False

    with pytest.raises(ValueError, match="already registered"):
        health.add("disk", passing)
    with capture():
        [result] = (await health.run()).checks
    assert (result.name, result.outcome, result.error_type) == ("disk", "failure", "unhealthy")


async def test_raising_sink_does_not_change_answers(raising_sink: Any) -> None:
    """With a failing sink, the report is the same."""
    with capture(extra_sinks=[raising_sink]) as cap:
        report = await registry().run()
    assert [c.outcome for c in report.checks] == ["success", "failure", "timeout"]
    assert cap.sample("resilience_health_checks_total", check="database", outcome="success") == 1.0


@pytest.mark.services
async def test_sqlalchemy_check_sqlite_and_postgres() -> None:
    """The database check passes on a reachable database (SQLite engine in a thread; the real
    PostgreSQL through asyncpg) and fails with a type-only error on a wrong one."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    from sqlalchemy.ext.asyncio import create_async_engine

    require(port_open("127.0.0.1", 5432), "PostgreSQL on 127.0.0.1:5432")
    sqlite = sqlalchemy.create_engine("sqlite://")
    postgres = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    wrong = create_async_engine("postgresql+asyncpg://postgres:hunter2@127.0.0.1:5432/no_such_db")
    health = HealthRegistry(timeout=5.0)
    health.add("sqlite", sqlalchemy_check(sqlite))
    health.add("postgres", sqlalchemy_check(postgres))
    health.add("wrong", sqlalchemy_check(wrong))
    try:
        with capture():
            report = await health.run()
    finally:
        await postgres.dispose()
        await wrong.dispose()
        sqlite.dispose()
    assert [(c.name, c.outcome) for c in report.checks] == [
        ("sqlite", "success"),
        ("postgres", "success"),
        ("wrong", "failure"),
    ]
    assert "hunter2" not in repr(report.as_dict())


@pytest.mark.services
async def test_amqp_check_on_real_rabbitmq() -> None:
    """The broker check passes on an open aio-pika connection and fails once it is closed."""
    aio_pika = pytest.importorskip("aio_pika")
    require(port_open("127.0.0.1", 5672), "RabbitMQ on 127.0.0.1:5672")
    connection = await aio_pika.connect_robust("amqp://guest:guest@127.0.0.1:5672/")
    health = HealthRegistry()
    health.add("broker", amqp_check(connection))
    with capture():
        before = (await health.run()).status
        await connection.close()
        after = (await health.run()).status
    assert (before, after) == ("healthy", "unhealthy")


async def test_s3_check_with_moto() -> None:
    """The S3 check passes for an existing bucket and fails for a missing one (moto)."""
    moto = pytest.importorskip("moto")
    boto3 = pytest.importorskip("boto3")
    with moto.mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="invoices")
        health = HealthRegistry(timeout=5.0)
        health.add("s3", s3_check(s3, "invoices"))
        health.add("s3-missing", s3_check(s3, "nope"), critical=False)
        with capture():
            report = await health.run()
    assert [(c.name, c.outcome, c.error_type) for c in report.checks] == [
        ("s3", "success", None),
        ("s3-missing", "failure", "ClientError"),
    ]


def test_fallback_used_counts_and_logs() -> None:
    """A fallback is counted by operation and reason, logged at WARNING, and evented."""
    with capture() as cap:
        with cap.tracer.start_as_current_span("quote"):
            telemetry.fallback_used("exchange_rates", "circuit_open")
            telemetry.fallback_used("exchange_rates", "timeout", TimeoutError())
    assert cap.series("resilience_fallback_activations_total") == [
        {"operation": "exchange_rates", "reason": "circuit_open"},
        {"operation": "exchange_rates", "reason": "timeout"},
    ]
    assert cap.logs == [
        {
            "event": "telemetry.fallback.used",
            "log_level": "warning",
            "fallback.operation": "exchange_rates",
            "fallback.reason": "circuit_open",
        },
        {
            "event": "telemetry.fallback.used",
            "log_level": "warning",
            "fallback.operation": "exchange_rates",
            "fallback.reason": "timeout",
            "error.type": "TimeoutError",
        },
    ]
    assert [e.name for e in cap.spans()[0].events] == ["telemetry.fallback.used"] * 2


def test_degraded_mode_gauge_and_change_only_logs() -> None:
    """Declaring a component healthy creates its series at 0 silently; entering degraded mode
    sets 1 and logs WARNING once (repeats are silent); leaving logs INFO and sets 0."""
    with capture() as cap:
        telemetry.set_degraded("search", degraded=False)
        assert cap.sample("resilience_degraded", component="search") == 0.0
        telemetry.set_degraded("search", reason="index down")
        telemetry.set_degraded("search", reason="index down")
        assert cap.sample("resilience_degraded", component="search") == 1.0
        telemetry.set_degraded("search", degraded=False)
        assert cap.sample("resilience_degraded", component="search") == 0.0
    assert cap.logs == [
        {
            "event": "telemetry.degraded.entered",
            "log_level": "warning",
            "degraded.component": "search",
            "degraded.reason": "index down",
        },
        {"event": "telemetry.degraded.exited", "log_level": "info", "degraded.component": "search"},
    ]
