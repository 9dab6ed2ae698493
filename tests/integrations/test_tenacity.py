"""tenacity instrumentation: outcomes, attempts, backoff, span events and logs, exactly."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from telemetry.labels import clean
from telemetry.testing import capture
from tests.resilience_support import Fatal, Flaky, flaky, run_threads

tenacity = pytest.importorskip("tenacity")
from telemetry.integrations.tenacity import instrument_retrying, is_instrumented, uninstrument_retrying  # noqa: E402


def policy(**overrides: Any) -> Any:
    options = {
        "stop": tenacity.stop_after_attempt(3),
        "wait": tenacity.wait_fixed(0.01),
        "retry": tenacity.retry_if_exception_type(Flaky),
        "reraise": True,
    }
    return tenacity.Retrying(**{**options, **overrides})


def calls(cap: Any, name: str) -> dict[str, float]:
    return {
        s["outcome"]: cap.sample("resilience_retry_calls_total", retry_name=name, outcome=s["outcome"])
        for s in cap.series("resilience_retry_calls_total")
        if s["retry_name"] == name
    }


def test_success_after_retry_records_scheduled_retry_and_outcome() -> None:
    """Two failures then success: two scheduled retries (span events, INFO logs), one
    success_after_retry, 3 attempts, 0.02 s backoff; the span is not marked as an error."""
    retrying = instrument_retrying(policy(), name="rates")
    with capture() as cap:
        with cap.tracer.start_as_current_span("work"):
            assert retrying(flaky(2)) == "ok"
    assert calls(cap, "rates") == {"success_after_retry": 1.0}
    assert cap.sample("resilience_retry_attempts_total", retry_name="rates") == 3.0
    assert cap.sample("resilience_retry_scheduled_total", retry_name="rates", error_type="Flaky") == 2.0
    assert cap.sample("resilience_retry_attempts_per_call_count", retry_name="rates") == 1.0
    assert cap.sample("resilience_retry_attempts_per_call_sum", retry_name="rates") == 3.0
    assert cap.sample("resilience_retry_backoff_seconds_sum", retry_name="rates") == pytest.approx(0.02)
    [span] = cap.spans()
    assert span.status.status_code is StatusCode.UNSET
    assert [(e.name, dict(e.attributes or {})) for e in span.events] == [
        (
            "telemetry.retry.scheduled",
            {"retry.name": "rates", "retry.attempt": 1, "retry.delay_s": 0.01, "error.type": "Flaky"},
        ),
        (
            "telemetry.retry.scheduled",
            {"retry.name": "rates", "retry.attempt": 2, "retry.delay_s": 0.01, "error.type": "Flaky"},
        ),
        (
            "telemetry.retry.succeeded",
            {
                "retry.name": "rates",
                "retry.attempts": 3,
                "retry.waited_s": pytest.approx(0.02),
                "retry.outcome": "success_after_retry",
            },
        ),
    ]
    assert [(log["event"], log["log_level"]) for log in cap.logs] == [
        ("telemetry.retry.scheduled", "info"),
        ("telemetry.retry.scheduled", "info"),
        ("telemetry.retry.succeeded", "info"),
    ]


def test_first_attempt_success_is_counted_quietly() -> None:
    """A first-attempt success counts one call and one attempt, with no span event, no log
    and no histogram observation."""
    retrying = instrument_retrying(policy(), name="rates")
    with capture() as cap:
        with cap.tracer.start_as_current_span("work"):
            assert retrying(lambda: 42) == 42
    assert calls(cap, "rates") == {"success_first_attempt": 1.0}
    assert cap.sample("resilience_retry_attempts_total", retry_name="rates") == 1.0
    # no histogram observation for the common case: calls{success_first_attempt} is its count
    assert cap.sample("resilience_retry_backoff_seconds_count", retry_name="rates") is None
    assert cap.sample("resilience_retry_attempts_per_call_count", retry_name="rates") is None
    assert [span.events for span in cap.spans()] == [()]
    assert cap.logs == []


def test_exhaustion_marks_span_and_logs_one_warning_without_the_message() -> None:
    """Three failures: exhausted, span status ERROR with error.type, one WARNING; the
    exception message (with its secret) appears nowhere; the caller gets the same exception."""
    retrying = instrument_retrying(policy(), name="rates")
    with capture() as cap:
        with cap.tracer.start_as_current_span("work"), pytest.raises(Flaky, match="hunter2"):
            retrying(flaky(5))
    assert calls(cap, "rates") == {"exhausted": 1.0}
    assert cap.sample("resilience_retry_attempts_total", retry_name="rates") == 3.0
    [span] = cap.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {}) == {"error.type": "Flaky"}
    warnings = [log for log in cap.logs if log["log_level"] == "warning"]
    assert warnings == [
        {
            "event": "telemetry.retry.exhausted",
            "log_level": "warning",
            "retry.name": "rates",
            "retry.attempts": 3,
            "retry.waited_s": pytest.approx(0.02),
            "error.type": "Flaky",
        }
    ]
    assert "hunter2" not in repr(cap.logs) + repr(span.events)


def test_not_retryable_error_is_abandoned_at_once() -> None:
    """An error the policy does not retry ends the call after one attempt as not_retryable."""
    retrying = instrument_retrying(policy(), name="rates")
    with capture() as cap, pytest.raises(Fatal):
        retrying(flaky(1, Fatal))
    assert calls(cap, "rates") == {"not_retryable": 1.0}
    assert cap.sample("resilience_retry_scheduled_total", retry_name="rates", error_type="Fatal") is None
    assert [log["event"] for log in cap.logs] == ["telemetry.retry.abandoned"]


def test_semantics_unchanged_retry_error_and_user_hooks_still_run() -> None:
    """Without reraise tenacity still raises RetryError; the user's before_sleep still runs."""
    seen: list[int] = []
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(2),
        before_sleep=lambda rs: seen.append(rs.attempt_number),
    )
    instrument_retrying(retrying, name="plain")
    with capture() as cap, pytest.raises(tenacity.RetryError):
        retrying(flaky(5))
    assert seen == [1]
    assert calls(cap, "plain") == {"exhausted": 1.0}


def test_decorated_function_default_name_and_instrument_twice() -> None:
    """A @retry function reports under module.qualname; instrumenting twice counts once."""

    @tenacity.retry(stop=tenacity.stop_after_attempt(3), wait=tenacity.wait_none())
    def fetch() -> str:
        return attempts()

    attempts = flaky(1)
    instrument_retrying(fetch)
    instrument_retrying(fetch)
    assert is_instrumented(fetch)
    with capture() as cap:
        assert fetch() == "ok"
    # module.qualname, cleaned and cut to the label length limit
    name = clean(f"{__name__}.test_decorated_function_default_name_and_instrument_twice.<locals>.fetch")
    assert name == "test_tenacity.test_decorated_function_default_name_and_instrumen"
    assert cap.series("resilience_retry_calls_total") == [{"retry_name": name, "outcome": "success_after_retry"}]
    assert cap.sample("resilience_retry_attempts_total", retry_name=name) == 2.0


def test_uninstrument_records_nothing() -> None:
    """After uninstrumenting, calls are not recorded and behave the same."""
    retrying = instrument_retrying(policy(), name="rates")
    uninstrument_retrying(retrying)
    assert not is_instrumented(retrying)
    with capture() as cap:
        assert retrying(flaky(1)) == "ok"
    assert cap.series("resilience_retry_calls_total") == []
    assert cap.logs == []


def test_raising_sink_keeps_results_and_exceptions(raising_sink: Any) -> None:
    """A sink that raises on every event changes neither the result nor the exception."""
    retrying = instrument_retrying(policy(), name="rates")
    with capture(extra_sinks=[raising_sink]) as cap:
        assert retrying(flaky(1)) == "ok"
        with pytest.raises(Flaky):
            retrying(flaky(5))
    assert calls(cap, "rates") == {"success_after_retry": 1.0, "exhausted": 1.0}


async def test_async_retrying_with_async_strategies_and_hooks() -> None:
    """AsyncRetrying with an async retry predicate and async before_sleep: same metrics, the
    user's async hook is awaited, the result is unchanged."""
    from tenacity.asyncio import retry_if_exception

    slept: list[int] = []

    async def note(rs: Any) -> None:
        slept.append(rs.attempt_number)

    async def is_flaky(exc: BaseException) -> bool:
        return isinstance(exc, Flaky)

    retrying = tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(3),
        retry=retry_if_exception(is_flaky),
        before_sleep=note,
        reraise=True,
    )
    instrument_retrying(retrying, name="s3")
    fail_once = flaky(1)

    async def op() -> str:
        return fail_once()

    with capture() as cap:
        assert await retrying(op) == "ok"
        with pytest.raises(Fatal):
            await retrying(_async_raiser(Fatal))
    assert slept == [1]
    assert calls(cap, "s3") == {"success_after_retry": 1.0, "not_retryable": 1.0}


def _async_raiser(exc: type[BaseException]) -> Any:
    async def op() -> str:
        raise exc

    return op


async def test_concurrent_tasks_count_exactly() -> None:
    """50 concurrent tasks through one AsyncRetrying, each failing once: exact counts."""
    retrying = instrument_retrying(
        tenacity.AsyncRetrying(stop=tenacity.stop_after_attempt(3), wait=tenacity.wait_fixed(0.001)), name="fan"
    )

    async def one() -> str:
        fail_once = flaky(1)

        async def op() -> str:
            await asyncio.sleep(0)
            return fail_once()

        return await retrying(op)

    with capture() as cap:
        assert await asyncio.gather(*(one() for _ in range(50))) == ["ok"] * 50
    assert calls(cap, "fan") == {"success_after_retry": 50.0}
    assert cap.sample("resilience_retry_attempts_total", retry_name="fan") == 100.0
    assert cap.sample("resilience_retry_scheduled_total", retry_name="fan", error_type="Flaky") == 50.0


def test_concurrent_threads_count_exactly() -> None:
    """8 threads x 25 decorated calls, each failing once: exact counts (no .statistics)."""

    @tenacity.retry(stop=tenacity.stop_after_attempt(3), wait=tenacity.wait_none())
    def op(fn: Any) -> str:
        return fn()

    instrument_retrying(op, name="threads")

    def worker() -> None:
        for _ in range(25):
            assert op(flaky(1)) == "ok"

    with capture() as cap:
        run_threads(worker, 8)
    assert calls(cap, "threads") == {"success_after_retry": 200.0}
    assert cap.sample("resilience_retry_attempts_total", retry_name="threads") == 400.0


def test_thousand_retries_with_distinct_correlation_ids_add_no_series() -> None:
    """1,000 retried calls, each under its own correlation ID, create no new series: IDs go
    to logs and exemplars, never to labels."""
    from telemetry.correlation import bound

    retrying = instrument_retrying(policy(wait=tenacity.wait_none()), name="orders")
    with capture() as cap:
        with bound("warm-up"):
            retrying(flaky(1))
        before = cap.series_count()
        for i in range(1000):
            with bound(f"req-{i:04d}"):
                assert retrying(flaky(1)) == "ok"
        assert cap.series_count() == before
    assert calls(cap, "orders") == {"success_after_retry": 1001.0}
    assert {log["event"] for log in cap.logs} == {"telemetry.retry.scheduled", "telemetry.retry.succeeded"}
