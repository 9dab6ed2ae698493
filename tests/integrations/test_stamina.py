"""stamina instrumentation: the on-retry hook plus the outcome-reporting decorator."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from telemetry.testing import capture
from tests.resilience_support import Fatal, Flaky, flaky, run_threads

stamina = pytest.importorskip("stamina")
from stamina.instrumentation import PrometheusOnRetryHook, get_on_retry_hooks, set_on_retry_hooks  # noqa: E402

from telemetry.integrations import stamina as stamina_telemetry  # noqa: E402

FAST: dict[str, Any] = {"wait_initial": 0.001, "wait_max": 0.001, "wait_jitter": 0.0}


def calls(cap: Any) -> list[tuple[str, str, float | None]]:
    return [
        (s["retry_name"], s["outcome"], cap.sample("resilience_retry_calls_total", **s))
        for s in cap.series("resilience_retry_calls_total")
    ]


def test_hook_records_scheduled_retries_of_plain_stamina() -> None:
    """A plain @stamina.retry function: each scheduled retry is counted, evented and logged
    under stamina's callable name."""
    stamina_telemetry.instrument_stamina()
    attempt = flaky(2)

    @stamina.retry(on=Flaky, attempts=3, **FAST)
    def fetch() -> str:
        return attempt()

    with capture() as cap:
        with cap.tracer.start_as_current_span("work"):
            assert fetch() == "ok"
    name = f"{__name__}.test_hook_records_scheduled_retries_of_plain_stamina.<locals>.fetch"
    [series] = cap.series("resilience_retry_scheduled_total")
    assert series == {"retry_name": series["retry_name"], "error_type": "Flaky"}
    assert name.startswith(series["retry_name"])
    assert cap.sample("resilience_retry_scheduled_total", **series) == 2.0
    assert [e.attributes["retry.attempt"] for e in cap.spans()[0].events if e.attributes] == [1, 2]
    assert calls(cap) == []  # hooks alone never see how the call ended


_rates_attempt = flaky(1)


@stamina_telemetry.retry(on=Flaky, attempts=3, **FAST)
def rates() -> str:
    return _rates_attempt()


@stamina_telemetry.retry(on=Flaky, attempts=2, **FAST)
def down() -> str:
    raise Flaky


@stamina_telemetry.retry(on=Flaky, attempts=3, **FAST)
def fatal() -> str:
    raise Fatal


def test_decorator_reports_success_after_retry_and_exhaustion() -> None:
    """The telemetry decorator adds outcomes: success after retry with attempts and backoff,
    exhaustion with one WARNING, a non-retryable error as not_retryable."""
    stamina_telemetry.instrument_stamina()
    with capture() as cap:
        assert rates() == "ok"
        with pytest.raises(Flaky):
            down()
        with pytest.raises(Fatal):
            fatal()
    assert calls(cap) == [
        ("test_stamina.rates", "success_after_retry", 1.0),
        ("test_stamina.down", "exhausted", 1.0),
        ("test_stamina.fatal", "not_retryable", 1.0),
    ]
    assert cap.sample("resilience_retry_attempts_total", retry_name="test_stamina.rates") == 2.0
    assert cap.sample("resilience_retry_backoff_seconds_sum", retry_name="test_stamina.rates") == pytest.approx(0.001)
    assert cap.sample("resilience_retry_attempts_total", retry_name="test_stamina.down") == 2.0
    assert [log["log_level"] for log in cap.logs if log["event"] == "telemetry.retry.exhausted"] == ["warning"]
    assert "hunter2" not in repr(cap.logs)


def test_backoff_hook_decision_decides_exhausted_or_not_retryable() -> None:
    """With an `on=` predicate, its own decision tells exhaustion from a non-retryable error."""
    stamina_telemetry.instrument_stamina()

    def transient(exc: Exception) -> bool:
        return "transient" in str(exc)

    @stamina_telemetry.retry(on=transient, attempts=2, **FAST)
    def op(message: str) -> None:
        raise RuntimeError(message)

    with capture() as cap:
        with pytest.raises(RuntimeError):
            op("transient")
        with pytest.raises(RuntimeError):
            op("permanent")
    assert [outcome for _, outcome, _ in calls(cap)] == ["exhausted", "not_retryable"]


def test_no_double_counting_with_stamina_prometheus_hook_and_instrument_twice() -> None:
    """With stamina's own Prometheus hook active and instrument() called twice, our counter
    counts each retry once, and stamina's hook stays in place."""
    set_on_retry_hooks([PrometheusOnRetryHook])
    stamina_telemetry.instrument_stamina()
    stamina_telemetry.instrument_stamina()
    hooks = get_on_retry_hooks()
    assert len(hooks) == 2
    assert stamina_telemetry.is_instrumented()

    @stamina_telemetry.retry(on=Flaky, attempts=3, **FAST)
    def op(fn: Any) -> str:
        return fn()

    with capture() as cap:
        assert op(flaky(2)) == "ok"
    [series] = cap.series("resilience_retry_scheduled_total")
    assert cap.sample("resilience_retry_scheduled_total", **series) == 2.0
    assert cap.sample("resilience_retry_attempts_total", retry_name=series["retry_name"]) == 3.0


def test_uninstrument_records_nothing_and_keeps_other_hooks() -> None:
    """After uninstrument neither the hook nor the decorator records; other hooks remain."""
    seen: list[int] = []
    set_on_retry_hooks([lambda details: seen.append(details.retry_num)])
    stamina_telemetry.instrument_stamina()
    stamina_telemetry.uninstrument_stamina()
    assert not stamina_telemetry.is_instrumented()

    @stamina_telemetry.retry(on=Flaky, attempts=3, **FAST)
    def op(fn: Any) -> str:
        return fn()

    with capture() as cap:
        assert op(flaky(1)) == "ok"
    assert seen == [1]
    assert cap.series("resilience_retry_scheduled_total") == []
    assert cap.series("resilience_retry_calls_total") == []


def test_raising_sink_keeps_results_and_exceptions(raising_sink: Any) -> None:
    """A failing sink changes neither results nor exceptions."""
    stamina_telemetry.instrument_stamina()

    @stamina_telemetry.retry(on=Flaky, attempts=2, **FAST)
    def op(fn: Any) -> str:
        return fn()

    with capture(extra_sinks=[raising_sink]) as cap:
        assert op(flaky(1)) == "ok"
        with pytest.raises(Flaky, match="hunter2"):
            op(flaky(5))
    assert [outcome for _, outcome, _ in calls(cap)] == ["success_after_retry", "exhausted"]


async def test_async_functions_and_concurrent_tasks_count_exactly() -> None:
    """50 concurrent tasks of an async decorated function, each failing once: exact counts."""
    stamina_telemetry.instrument_stamina()

    @stamina_telemetry.retry(on=Flaky, attempts=3, **FAST)
    async def op(fn: Any) -> str:
        await asyncio.sleep(0)
        return fn()

    with capture() as cap:
        assert await asyncio.gather(*(op(flaky(1)) for _ in range(50))) == ["ok"] * 50
    [(name, outcome, count)] = calls(cap)
    assert (outcome, count) == ("success_after_retry", 50.0)
    assert cap.sample("resilience_retry_attempts_total", retry_name=name) == 100.0
    assert cap.sample("resilience_retry_scheduled_total", retry_name=name, error_type="Flaky") == 50.0


def test_threads_count_exactly() -> None:
    """8 threads x 20 calls, each failing once: exact counts."""
    stamina_telemetry.instrument_stamina()

    @stamina_telemetry.retry(on=Flaky, attempts=3, **FAST)
    def op(fn: Any) -> str:
        return fn()

    def worker() -> None:
        for _ in range(20):
            assert op(flaky(1)) == "ok"

    with capture() as cap:
        run_threads(worker, 8)
    [(name, outcome, count)] = calls(cap)
    assert (outcome, count) == ("success_after_retry", 160.0)
    assert cap.sample("resilience_retry_attempts_total", retry_name=name) == 320.0


def test_generators_are_refused_at_decoration() -> None:
    """Generator functions are a configuration error with a pointer to stamina.retry."""
    with pytest.raises(TypeError, match=r"stamina\.retry directly"):

        @stamina_telemetry.retry(on=Flaky)
        def gen() -> Any:
            yield 1
