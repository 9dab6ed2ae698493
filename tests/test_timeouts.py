"""Timeouts: the asyncio helper and the one-line API report the operation, its budget and
the elapsed time; timeouts seen elsewhere (pool, health checks, inner TimeoutErrors) are not
counted a second time."""

from __future__ import annotations

import asyncio

import pytest

import telemetry
from telemetry.health import HealthRegistry
from telemetry.testing import capture

CALLS = "resilience_timeout_calls_total"


def outcomes(cap, operation: str) -> dict[str, float | None]:
    return {
        outcome: cap.sample(CALLS, timeout_operation=operation, outcome=outcome)
        for outcome in ("success", "failure", "timeout")
    }


async def test_timeout_context_manager_reports_each_outcome() -> None:
    """Success, failure and an expired budget each land in their own outcome; the budget is a
    gauge; the histogram counts every call, the timed-out one included."""
    with capture() as cap:
        async with telemetry.timeout("db.orders.insert", 0.5):
            await asyncio.sleep(0)
        with pytest.raises(ValueError, match="bad row"):
            async with telemetry.timeout("db.orders.insert", 0.5):
                raise ValueError("bad row")
        with pytest.raises(TimeoutError):
            async with telemetry.timeout("db.orders.insert", 0.01):
                await asyncio.sleep(5)
    assert outcomes(cap, "db.orders.insert") == {"success": 1.0, "failure": 1.0, "timeout": 1.0}
    assert cap.sample("resilience_timeout_budget_seconds", timeout_operation="db.orders.insert") == 0.01
    assert cap.sample("resilience_timeout_duration_seconds_count", timeout_operation="db.orders.insert") == 3.0
    [line] = cap.logs
    assert set(line) == {
        "event",
        "log_level",
        "timeout.operation",
        "timeout.budget_s",
        "timeout.elapsed_s",
        "error.type",
    }
    assert (
        line["event"],
        line["log_level"],
        line["timeout.operation"],
        line["timeout.budget_s"],
        line["error.type"],
    ) == (
        "telemetry.timeout.expired",
        "warning",
        "db.orders.insert",
        0.01,
        "TimeoutError",
    )
    assert line["timeout.elapsed_s"] >= 0.01


async def test_series_exist_at_zero_before_the_first_timeout() -> None:
    """An operation's three outcomes are exported at 0 from its first use, so a ratio alert
    sees the first timeout as an increase."""
    with capture() as cap:
        async with telemetry.timeout("rates.fetch", 1.0):
            pass
    assert outcomes(cap, "rates.fetch") == {"success": 1.0, "failure": 0.0, "timeout": 0.0}


async def test_wait_for_returns_the_result_and_reports() -> None:
    """wait_for is asyncio.wait_for plus the report."""

    async def rate() -> float:
        return 1.25

    with capture() as cap:
        assert await telemetry.wait_for(rate(), 1.0, operation="rates.fetch") == 1.25
        with pytest.raises(TimeoutError):
            await telemetry.wait_for(asyncio.sleep(5), 0.01, operation="rates.fetch")
    assert outcomes(cap, "rates.fetch") == {"success": 1.0, "failure": 0.0, "timeout": 1.0}


async def test_an_inner_timeout_error_is_a_failure_not_our_timeout() -> None:
    """A TimeoutError raised inside the block (a pool checkout, a client's own timeout) is
    counted by its own metric; here it is a failure, never a second timeout."""

    class PoolTimeout(TimeoutError):
        pass

    async def nested() -> None:
        async with telemetry.timeout("db.orders.insert", 5.0), asyncio.timeout(0.01):  # someone else's, inside ours
            await asyncio.sleep(5)

    with capture() as cap:
        with pytest.raises(PoolTimeout):
            async with telemetry.timeout("db.orders.insert", 5.0):
                raise PoolTimeout
        with pytest.raises(TimeoutError):
            await nested()
    assert outcomes(cap, "db.orders.insert") == {"success": 0.0, "failure": 2.0, "timeout": 0.0}
    assert cap.logs == []


async def test_health_check_timeouts_keep_their_own_metric() -> None:
    """A hung health check counts in resilience_health_checks_total only."""
    health = HealthRegistry(timeout=0.01)

    async def hung() -> None:
        await asyncio.sleep(5)

    health.add("payments", hung)
    with capture() as cap:
        await health.run()
    assert cap.sample("resilience_health_checks_total", check="payments", outcome="timeout") == 1.0
    assert cap.series(CALLS) == []


async def test_cancellation_from_outside_is_not_an_outcome() -> None:
    """A task cancelled by its caller neither succeeded, failed nor timed out."""
    with capture() as cap:

        async def work() -> None:
            async with telemetry.timeout("report.render", 5.0):
                await asyncio.sleep(5)

        task = asyncio.ensure_future(work())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert outcomes(cap, "report.render") == {"success": 0.0, "failure": 0.0, "timeout": 0.0}


def test_home_grown_api_one_line_per_fact() -> None:
    """A service's own timeout code reports through a TimeBudget handle; the span gets the
    event and error.type."""
    with capture() as cap:
        budget = telemetry.time_budget("payments.charge", 5.0)
        assert telemetry.time_budget("payments.charge", 5.0) is budget
        with cap.tracer.start_as_current_span("charge"):
            budget.finished(0.2)
            budget.expired(5.01)
    assert outcomes(cap, "payments.charge") == {"success": 1.0, "failure": 0.0, "timeout": 1.0}
    [span] = cap.spans()
    assert [(e.name, dict(e.attributes or {})) for e in span.events] == [
        (
            "telemetry.timeout.expired",
            {
                "timeout.operation": "payments.charge",
                "timeout.budget_s": 5.0,
                "timeout.elapsed_s": 5.01,
                "error.type": "TimeoutError",
            },
        )
    ]
    assert {key: span.attributes[key] for key in ("timeout.operation", "error.type")} == {
        "timeout.operation": "payments.charge",
        "error.type": "TimeoutError",
    }


def test_a_new_budget_updates_the_gauge() -> None:
    """The gauge shows the latest budget reported for the operation."""
    with capture() as cap:
        telemetry.time_budget("payments.charge", 5.0)
        telemetry.time_budget("payments.charge", 2.5)
    assert cap.sample("resilience_timeout_budget_seconds", timeout_operation="payments.charge") == 2.5


def test_reporting_never_raises_with_a_broken_sink(raising_sink) -> None:
    """A sink that raises is contained: the caller's timeout still propagates as before."""
    with capture(extra_sinks=[raising_sink]) as cap:
        telemetry.time_budget("payments.charge", 1.0).expired(1.2)
    assert cap.sample("resilience_timeout_calls_total", timeout_operation="payments.charge", outcome="timeout") == 1.0
    assert cap.sample("resilience_telemetry_sink_errors_total", sink="log") == 1.0


def test_no_series_without_use() -> None:
    """A service that never uses timeouts exports none of their series."""
    with capture() as cap:
        pass
    assert [s for s in ("resilience_timeout_calls_total", "resilience_timeout_budget_seconds") if cap.series(s)] == []
