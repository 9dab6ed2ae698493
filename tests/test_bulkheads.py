"""Bulkheads: the asyncio concurrency limit and the reporting handle for a service's own
semaphore show in-flight calls against the limit, rejections, queued calls and their wait."""

from __future__ import annotations

import asyncio

import pytest

import telemetry
from telemetry.testing import capture

CALLS = "resilience_bulkhead_calls_total"


def gauges(cap, name: str) -> dict[str, float | None]:
    return {
        metric: cap.sample(f"resilience_bulkhead_{metric}", bulkhead_name=name)
        for metric in ("in_flight", "limit", "queued")
    }


async def test_a_full_bulkhead_without_queue_rejects_at_once() -> None:
    """Two places, three callers: the third gets BulkheadFullError, a WARNING line and a
    span event; in flight reads 2 of 2 while the two run, 0 after."""
    release = asyncio.Event()
    with capture() as cap:
        payments = telemetry.bulkhead("payments", 2)
        assert gauges(cap, "payments") == {"in_flight": 0.0, "limit": 2.0, "queued": 0.0}
        assert cap.sample(CALLS, bulkhead_name="payments", outcome="rejected") == 0.0

        async def call() -> None:
            async with payments:
                await release.wait()

        running = [asyncio.ensure_future(call()) for _ in range(2)]
        await asyncio.sleep(0)
        assert gauges(cap, "payments") == {"in_flight": 2.0, "limit": 2.0, "queued": 0.0}
        with cap.tracer.start_as_current_span("charge"), pytest.raises(telemetry.BulkheadFullError) as refused:
            await call()
        release.set()
        await asyncio.gather(*running)
    assert refused.value.reason == "full"
    assert gauges(cap, "payments") == {"in_flight": 0.0, "limit": 2.0, "queued": 0.0}
    assert {s["outcome"]: cap.sample(CALLS, **s) for s in cap.series(CALLS)} == {"admitted": 2.0, "rejected": 1.0}
    assert cap.sample("resilience_bulkhead_queue_wait_time_seconds_count", bulkhead_name="payments") == 0.0
    assert cap.logs == [
        {
            "event": "telemetry.bulkhead.rejected",
            "log_level": "warning",
            "bulkhead.name": "payments",
            "bulkhead.limit": 2,
            "bulkhead.in_flight": 2,
            "bulkhead.reason": "full",
            "error.type": "bulkhead_full",
        }
    ]
    [span] = cap.spans()
    assert {key: span.attributes[key] for key in ("bulkhead.name", "error.type")} == {
        "bulkhead.name": "payments",
        "error.type": "bulkhead_full",
    }


async def test_queued_calls_wait_and_are_timed_then_the_queue_fills() -> None:
    """One place and a queue of one: the second call waits (queued reads 1) and is admitted
    when the first leaves; a third call meanwhile finds the queue full."""
    release = asyncio.Event()
    with capture() as cap:
        pdf = telemetry.bulkhead("pdf", 1, max_queue=1)

        async def call() -> None:
            async with pdf:
                await release.wait()

        first = asyncio.ensure_future(call())
        await asyncio.sleep(0)
        second = asyncio.ensure_future(call())
        await asyncio.sleep(0)
        assert gauges(cap, "pdf") == {"in_flight": 1.0, "limit": 1.0, "queued": 1.0}
        with pytest.raises(telemetry.BulkheadFullError) as refused:
            await call()
        release.set()
        await asyncio.gather(first, second)
    assert refused.value.reason == "queue_full"
    assert gauges(cap, "pdf") == {"in_flight": 0.0, "limit": 1.0, "queued": 0.0}
    assert {s["outcome"]: cap.sample(CALLS, **s) for s in cap.series(CALLS)} == {"admitted": 2.0, "rejected": 1.0}
    assert cap.sample("resilience_bulkhead_queue_wait_time_seconds_count", bulkhead_name="pdf") == 1.0


async def test_a_queued_call_that_waits_too_long_is_rejected() -> None:
    """queue_timeout bounds the wait; the rejection says queue_timeout and the wait is observed."""
    release = asyncio.Event()
    with capture() as cap:
        pdf = telemetry.bulkhead("pdf", 1, max_queue=5, queue_timeout=0.01)

        async def call() -> None:
            async with pdf:
                await release.wait()

        first = asyncio.ensure_future(call())
        await asyncio.sleep(0)
        with pytest.raises(telemetry.BulkheadFullError) as refused:
            await call()
        release.set()
        await first
    assert refused.value.reason == "queue_timeout"
    assert cap.sample("resilience_bulkhead_queue_wait_time_seconds_count", bulkhead_name="pdf") == 1.0
    assert gauges(cap, "pdf") == {"in_flight": 0.0, "limit": 1.0, "queued": 0.0}
    [line] = cap.logs
    assert (line["bulkhead.reason"], line["bulkhead.waited_s"] >= 0.01) == ("queue_timeout", True)


async def test_one_bulkhead_per_name_and_a_conflicting_config_is_an_error() -> None:
    """Two call sites asking for the same bulkhead share it; another limit is a programmer error."""
    assert telemetry.bulkhead("search", 3) is telemetry.bulkhead("search", 3)
    with pytest.raises(ValueError, match="exists with limit=3"):
        telemetry.bulkhead("search", 4)


def test_reporting_handle_for_a_home_grown_semaphore() -> None:
    """A service's own semaphore reports in one line per fact."""
    with capture() as cap:
        slots = telemetry.bulkhead_reporter("render", limit=4)
        slots.entered()
        slots.queued()
        assert gauges(cap, "render") == {"in_flight": 1.0, "limit": 4.0, "queued": 1.0}
        slots.entered(waited=0.3)
        slots.queued()
        slots.rejected("queue_timeout", waited=2.0)
        slots.exited()
        slots.exited()
        slots.set_limit(8)
    assert gauges(cap, "render") == {"in_flight": 0.0, "limit": 8.0, "queued": 0.0}
    assert {s["outcome"]: cap.sample(CALLS, **s) for s in cap.series(CALLS)} == {"admitted": 2.0, "rejected": 1.0}
    assert cap.sample("resilience_bulkhead_queue_wait_time_seconds_sum", bulkhead_name="render") == 2.3


def test_a_new_registry_sees_the_calls_in_flight() -> None:
    """The handle keeps its own counts: a set-up made while calls run shows them, not 0."""
    with capture():
        slots = telemetry.bulkhead_reporter("render", limit=4)
        slots.entered()
        slots.entered()
    with capture() as cap:
        slots.exited()
    assert gauges(cap, "render") == {"in_flight": 1.0, "limit": 4.0, "queued": 0.0}


def test_reporting_never_raises_with_a_broken_sink(raising_sink) -> None:
    """A failing sink is counted; the caller goes on."""
    with capture(extra_sinks=[raising_sink]) as cap:
        telemetry.bulkhead_reporter("render", limit=1).rejected()
    assert cap.sample(CALLS, bulkhead_name="render", outcome="rejected") == 1.0
    assert cap.sample("resilience_telemetry_sink_errors_total", sink="log") == 1.0
