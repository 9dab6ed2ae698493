"""The recorder: one event becomes a metric, a span event and a log line; failures are contained."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

import telemetry
from telemetry.events import RetryExhausted, RetryScheduled, RetrySucceeded
from telemetry.testing import RaisingSink, capture


class Boom(RuntimeError):
    pass


def test_event_fans_out_to_metric_span_and_log() -> None:
    """A scheduled retry is counted, added to the current span and logged once, all alike."""
    with capture() as cap:
        with cap.tracer.start_as_current_span("work") as span:
            telemetry.record(
                RetryScheduled(retry_name="fetch_avatar", attempt=1, delay=0.5, caused_by=TimeoutError("x"))
            )
            ctx = span.get_span_context()
    assert cap.sample("resilience_retry_scheduled_total", retry_name="fetch_avatar", error_type="TimeoutError") == 1.0
    [finished] = cap.spans()
    assert [(e.name, dict(e.attributes or {})) for e in finished.events] == [
        (
            "telemetry.retry.scheduled",
            {
                "resilience.retry.name": "fetch_avatar",
                "resilience.retry.attempt": 1,
                "resilience.retry.delay_s": 0.5,
                "error.type": "TimeoutError",
            },
        )
    ]
    assert finished.status.status_code is StatusCode.UNSET  # a retried error is not a span error
    assert cap.logs == [
        {
            "event": "telemetry.retry.scheduled",
            "log_level": "info",
            "resilience.retry.name": "fetch_avatar",
            "resilience.retry.attempt": 1,
            "resilience.retry.delay_s": 0.5,
            "error.type": "TimeoutError",
        }
    ]
    assert ctx.is_valid


def test_exhaustion_marks_span_error_and_logs_warning() -> None:
    """Exhaustion sets the span status and error.type and logs one WARNING."""
    with capture() as cap:
        with cap.tracer.start_as_current_span("work"):
            telemetry.record(RetryExhausted(retry_name="s3", attempts=3, waited=1.5, caused_by=ConnectionError()))
    [span] = cap.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "ConnectionError"
    assert [log["log_level"] for log in cap.logs] == ["warning"]
    assert cap.sample("resilience_retry_calls_total", retry_name="s3", outcome="exhausted") == 1.0
    assert cap.sample("resilience_retry_attempts_total", retry_name="s3") == 3.0
    assert cap.sample("resilience_retry_attempts_per_call_sum", retry_name="s3") == 3.0
    assert cap.sample("resilience_retry_backoff_seconds_sum", retry_name="s3") == 1.5


def test_success_outcomes_by_attempts() -> None:
    """First-attempt success and success after retry are distinct outcomes."""
    with capture() as cap:
        telemetry.record(RetrySucceeded(retry_name="db", attempts=1))
        telemetry.record(RetrySucceeded(retry_name="db", attempts=3, waited=0.3))
    assert cap.sample("resilience_retry_calls_total", retry_name="db", outcome="success_first_attempt") == 1.0
    assert cap.sample("resilience_retry_calls_total", retry_name="db", outcome="success_after_retry") == 1.0
    assert cap.sample("resilience_retry_attempts_total", retry_name="db") == 4.0


def test_raising_sink_is_contained_counted_and_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    """A sink raising on every event never reaches the caller; other sinks still run."""

    broken = RaisingSink("trace", Boom)
    with caplog.at_level(logging.WARNING, logger="telemetry"), capture(extra_sinks=[broken]) as cap:
        for attempt in range(3):
            telemetry.record(RetryScheduled(retry_name="x", attempt=attempt, delay=0.0))
    assert cap.sample("resilience_retry_scheduled_total", retry_name="x", error_type="") == 3.0
    assert cap.sample("resilience_telemetry_sink_errors_total", sink="trace") == 3.0
    reports = [r for r in caplog.records if r.name == "telemetry"]
    assert len(reports) == 1
    assert "Boom" in reports[0].getMessage()


def test_custom_sink_failures_are_counted_under_its_own_name() -> None:
    """A custom sink that raises is counted under its ``name``, not as one of the built-in sinks."""
    from prometheus_client import generate_latest

    with capture(extra_sinks=[RaisingSink("audit", Boom)]) as cap:
        telemetry.record(RetryScheduled(retry_name="x", attempt=1, delay=0.0))
        telemetry.record(RetryScheduled(retry_name="x", attempt=2, delay=0.0))
        exposition = generate_latest(cap.registry).decode()
    lines = [line for line in exposition.splitlines() if line.startswith("resilience_telemetry_sink_errors_total{")]
    assert sorted(lines) == [
        'resilience_telemetry_sink_errors_total{sink="audit"} 2.0',
        'resilience_telemetry_sink_errors_total{sink="log"} 0.0',
        'resilience_telemetry_sink_errors_total{sink="metrics"} 0.0',
        'resilience_telemetry_sink_errors_total{sink="trace"} 0.0',
    ]


def test_plain_function_sink_counts_under_its_function_name() -> None:
    """A sink without a ``name`` (a plain function) is counted under the function's name."""

    def audit(_event: Any) -> None:
        raise Boom

    with capture(extra_sinks=[audit]) as cap:
        telemetry.record(RetryScheduled(retry_name="x", attempt=1, delay=0.0))
    assert cap.sample("resilience_telemetry_sink_errors_total", sink="audit") == 1.0


def test_labels_by_name_are_checked_against_the_spec() -> None:
    """Labels passed by name must be exactly the spec's; a typo is a clear error, not a new series."""
    from telemetry import catalog
    from telemetry.metrics import LabelNamesError

    with capture() as cap:
        cap.instruments.inc(catalog.RETRY_CALLS, retry_name="db", outcome="exhausted")
        cap.instruments.inc(catalog.RETRY_CALLS, outcome="exhausted", retry_name="db")  # any order
        with pytest.raises(LabelNamesError, match=r"takes labels \['retry_name', 'outcome'\], got \['retry_name'\]"):
            cap.instruments.inc(catalog.RETRY_CALLS, retry_name="db")
        with pytest.raises(LabelNamesError, match="got \\['retry_name', 'outcome', 'error_type'\\]"):
            cap.instruments.inc(catalog.RETRY_CALLS, retry_name="db", outcome="exhausted", error_type="")
    assert cap.series("resilience_retry_calls_total") == [{"retry_name": "db", "outcome": "exhausted"}]
    assert cap.sample("resilience_retry_calls_total", retry_name="db", outcome="exhausted") == 2.0


def test_log_level_override_and_off() -> None:
    """Users can change an event's level or turn its log line off; the metric stays."""
    levels = {"telemetry.retry.scheduled": "debug", "telemetry.retry.exhausted": "off"}
    with capture(log_levels=levels) as cap:
        telemetry.record(RetryScheduled(retry_name="a", attempt=1, delay=0.1))
        telemetry.record(RetryExhausted(retry_name="a", attempts=2))
    assert [(log["event"], log["log_level"]) for log in cap.logs] == [("telemetry.retry.scheduled", "debug")]
    assert cap.sample("resilience_retry_calls_total", retry_name="a", outcome="exhausted") == 1.0


def test_unknown_log_level_is_a_clear_error() -> None:
    """A typo in the level table fails at configuration time."""
    with pytest.raises(ValueError, match="unknown log level 'loud'"), capture(log_levels={"x": "loud"}):
        pass


def test_label_cap_folds_names_and_counts_overflow() -> None:
    """A flood of distinct retry names stays within the cap, and the fold is counted."""
    with capture(label_cap=5) as cap:
        for i in range(50):
            telemetry.record(RetryScheduled(retry_name=f"name-{i}", attempt=1, delay=0.0))
        names = {s["retry_name"] for s in cap.series("resilience_retry_scheduled_total")}
    assert names == {f"name-{i}" for i in range(5)} | {"_OTHER"}
    assert cap.sample("resilience_retry_scheduled_total", retry_name="_OTHER", error_type="") == 45.0
    assert cap.sample("resilience_telemetry_label_overflows_total", label="retry.name") == 45.0


def test_record_without_setup_uses_default_registry() -> None:
    """Recording before any set-up neither raises nor needs configuration."""
    from prometheus_client import REGISTRY

    before = (
        REGISTRY.get_sample_value("resilience_retry_scheduled_total", {"retry_name": "early", "error_type": ""}) or 0
    )
    telemetry.record(RetryScheduled(retry_name="early", attempt=1, delay=0.0))
    after = REGISTRY.get_sample_value("resilience_retry_scheduled_total", {"retry_name": "early", "error_type": ""})
    assert after == before + 1


def test_exemplar_carries_trace_id() -> None:
    """Counters get an exemplar with the current trace and span IDs (OpenMetrics)."""
    from prometheus_client.openmetrics.exposition import generate_latest

    with capture() as cap:
        with cap.tracer.start_as_current_span("work") as span:
            telemetry.record(RetryScheduled(retry_name="ex", attempt=1, delay=0.0))
            trace_id = format(span.get_span_context().trace_id, "032x")
        text = generate_latest(cap.registry).decode()
    [line] = [
        line
        for line in text.splitlines()
        if line.startswith("resilience_retry_scheduled_total{") and 'retry_name="ex"' in line
    ]
    assert ' # {span_id="' in line
    assert f'trace_id="{trace_id}"' in line
