"""The explicit API for home-grown breakers and retries, and the README's breaker example."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import pytest

import telemetry
from telemetry.breaker import Breaker, normalize_state
from telemetry.testing import capture
from tests.resilience_support import run_threads

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_breaker() -> dict[str, Any]:
    """Execute the README's home-grown breaker block and return its namespace."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    [source] = [block for block in blocks if "class CircuitBreaker" in block]
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(source, "README.md", "exec"), namespace)
    return namespace


def test_readme_home_grown_breaker_reports_everything() -> None:
    """The README example, run as written: three failures open it, the next call is rejected,
    after the cooldown a trial success closes it; metrics, logs and the state gauge agree."""
    example = readme_breaker()

    def broken() -> None:
        raise ConnectionError

    with capture() as cap:
        cb = example["CircuitBreaker"]("payments", threshold=3, cooldown=0.02)
        assert cap.sample("resilience_circuit_state", breaker_name="payments", state="closed") == 1.0
        for _ in range(3):
            with pytest.raises(ConnectionError):
                cb.call(broken)
        with pytest.raises(example["CircuitOpenError"]):
            cb.call(lambda: "never")
        time.sleep(0.03)
        assert cb.call(lambda: "paid") == "paid"
    assert {
        s["outcome"]: cap.sample("resilience_circuit_calls_total", **s)
        for s in cap.series("resilience_circuit_calls_total")
    } == {"success": 1.0, "failure": 3.0, "rejected": 1.0}
    assert cap.series("resilience_circuit_transitions_total") == [
        {"breaker_name": "payments", "from_state": "closed", "to_state": "open"},
        {"breaker_name": "payments", "from_state": "open", "to_state": "half_open"},
        {"breaker_name": "payments", "from_state": "half_open", "to_state": "closed"},
    ]
    assert [(log["event"], log["log_level"]) for log in cap.logs if log["log_level"] != "debug"] == [
        ("telemetry.breaker.opened", "error"),
        ("telemetry.breaker.half_opened", "warning"),
        ("telemetry.breaker.closed", "info"),
    ]
    assert cap.sample("resilience_circuit_time_in_state_seconds_total", breaker_name="payments", state="open") > 0.02


def test_state_spellings_are_normalised() -> None:
    """Library spellings map to closed/open/half_open; unknown ones to None."""
    import enum

    class State(enum.Enum):
        HALF_OPEN = 2

    assert [normalize_state(s) for s in ("closed", "OPEN", "half-open", "opened", "half-opened", State.HALF_OPEN)] == [
        "closed",
        "open",
        "half_open",
        "open",
        "half_open",
        "half_open",
    ]
    assert normalize_state("forced_open") is None


def test_repeated_or_unknown_transitions_are_ignored() -> None:
    """A second notice of the same change (a second observer) and unknown states count nothing."""
    with capture() as cap:
        handle = telemetry.circuit_breaker("shared")
        handle.state_changed("closed", "open")
        handle.state_changed("closed", "open")
        handle.state_changed("open", "forced_open")
    assert cap.series("resilience_circuit_transitions_total") == [
        {"breaker_name": "shared", "from_state": "closed", "to_state": "open"}
    ]
    assert handle.state == "open"


def test_one_handle_per_name_and_time_in_state_accumulates() -> None:
    """breaker(name) returns the same handle; time in each state adds up across visits."""
    assert telemetry.circuit_breaker("a") is telemetry.circuit_breaker("a")
    handle = Breaker("clock")
    handle.state_changed(None, "open")
    time.sleep(0.01)
    handle.state_changed(None, "closed")
    handle.state_changed(None, "open")
    time.sleep(0.01)
    spent = handle.time_in_state()
    assert spent["open"] >= 0.02
    assert set(spent) == {"closed", "open", "half_open"}


def test_breaker_names_past_the_cap_do_not_merge_states() -> None:
    """Names folded into _OTHER by the label cap get no state series (never merged ones)."""
    with capture(label_cap=2) as cap:
        for name in ("a", "b", "c", "d"):
            telemetry.circuit_breaker(name)
        names = {s["breaker_name"] for s in cap.series("resilience_circuit_state")}
    assert names == {"a", "b"}


def test_concurrent_threads_and_tasks_count_exactly() -> None:
    """8 threads and 100 asyncio tasks share one handle: exact call counts."""
    handle = None

    def worker() -> None:
        assert handle is not None
        for _ in range(500):
            handle.succeeded()
            handle.rejected()

    async def tasks() -> None:
        async def one() -> None:
            assert handle is not None
            await asyncio.sleep(0)
            handle.failed(TimeoutError())

        await asyncio.gather(*(one() for _ in range(100)))

    with capture() as cap:
        handle = telemetry.circuit_breaker("busy")
        run_threads(worker, 8)
        asyncio.run(tasks())
    assert {
        s["outcome"]: cap.sample("resilience_circuit_calls_total", **s)
        for s in cap.series("resilience_circuit_calls_total")
    } == {"success": 4000.0, "failure": 100.0, "rejected": 4000.0}


def test_retry_helpers_record_the_retry_vocabulary() -> None:
    """A home-grown retry loop reports scheduled retries and each outcome with the helpers."""
    with capture() as cap:
        with cap.tracer.start_as_current_span("loop"):
            telemetry.retry_scheduled("sync", 1, 0.5, TimeoutError())
            telemetry.retry_succeeded("sync", attempts=2, waited=0.5)
            telemetry.retry_succeeded("sync")
            telemetry.retry_exhausted("sync", 3, 1.5, TimeoutError())
            telemetry.retry_abandoned("sync", 1, 0.0, PermissionError())
    outcomes = {
        s["outcome"]: cap.sample("resilience_retry_calls_total", **s)
        for s in cap.series("resilience_retry_calls_total")
    }
    assert outcomes == {
        "success_after_retry": 1.0,
        "success_first_attempt": 1.0,
        "exhausted": 1.0,
        "not_retryable": 1.0,
    }
    assert cap.sample("resilience_retry_attempts_total", retry_name="sync") == 7.0
    assert cap.sample("resilience_retry_backoff_seconds_sum", retry_name="sync") == 2.0
    assert [(log["event"], log["log_level"]) for log in cap.logs] == [
        ("telemetry.retry.scheduled", "info"),
        ("telemetry.retry.succeeded", "info"),
        ("telemetry.retry.exhausted", "warning"),
        ("telemetry.retry.abandoned", "info"),
    ]
    [span] = cap.spans()
    assert [e.name for e in span.events] == [
        "telemetry.retry.scheduled",
        "telemetry.retry.succeeded",
        "telemetry.retry.exhausted",
        "telemetry.retry.abandoned",
    ]


def test_raising_sink_never_reaches_the_caller(raising_sink: Any) -> None:
    """With a sink that always raises, every helper returns normally and metrics still count."""
    with capture(extra_sinks=[raising_sink]) as cap:
        handle = telemetry.circuit_breaker("p")
        handle.state_changed("closed", "open")
        handle.rejected()
        handle.failed(ValueError())
        handle.succeeded()
        telemetry.retry_scheduled("r", 1, 0.1)
        telemetry.retry_exhausted("r", 2)
    assert cap.sample("resilience_circuit_calls_total", breaker_name="p", outcome="rejected") == 1.0
    assert cap.sample("resilience_telemetry_sink_errors_total", sink="log") == 5.0  # one per recorded event
