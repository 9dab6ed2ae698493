"""pybreaker instrumentation: one-hot state, time in state, transitions, outcomes, rejections."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from telemetry.testing import capture
from tests.conftest import port_open, require
from tests.resilience_support import one_hot, outcomes, run_threads

pybreaker = pytest.importorskip("pybreaker")
from telemetry.integrations.pybreaker import instrument_breaker, uninstrument_breaker  # noqa: E402


class Down(ConnectionError):
    pass


def fail() -> None:
    raise Down("payments at postgres://user:secret@db/x is down")


def ok() -> str:
    return "paid"


def transitions(cap: Any) -> list[dict[str, str]]:
    return cap.series("resilience_circuit_transitions_total")


def test_every_state_series_exists_from_instrumentation() -> None:
    """Right after instrumenting, all three state series exist (closed=1, others 0), and so
    does every call-outcome series, at 0."""
    with capture() as cap:
        instrument_breaker(pybreaker.CircuitBreaker(name="payments"))
        assert one_hot(cap, "payments") == {"closed": 1.0, "open": 0.0, "half_open": 0.0}
        assert outcomes(cap, "payments") == {"success": 0.0, "failure": 0.0, "rejected": 0.0}
        assert cap.sample("resilience_circuit_time_in_state_seconds_total", breaker_name="payments", state="open") == 0


def test_trip_reject_half_open_close_cycle() -> None:
    """Two failures trip the breaker (failures, not rejections); the next call is rejected
    without reaching the dependency; after the timeout a trial success closes it."""
    cb = instrument_breaker(pybreaker.CircuitBreaker(fail_max=2, reset_timeout=0.05, name="payments"))
    reached: list[str] = []

    def tracked() -> str:
        reached.append("x")
        return ok()

    with capture() as cap:
        with pytest.raises(Down):
            cb.call(fail)
        with pytest.raises(pybreaker.CircuitBreakerError):
            cb.call(fail)  # trips: reached the dependency
        assert one_hot(cap, "payments") == {"closed": 0.0, "open": 1.0, "half_open": 0.0}
        with cap.tracer.start_as_current_span("rejected"), pytest.raises(pybreaker.CircuitBreakerError):
            cb.call(tracked)
        assert reached == []
        time.sleep(0.06)
        with cap.tracer.start_as_current_span("trial"):
            assert cb.call(tracked) == "paid"
        assert one_hot(cap, "payments") == {"closed": 1.0, "open": 0.0, "half_open": 0.0}
    assert outcomes(cap, "payments") == {"failure": 2.0, "rejected": 1.0, "success": 1.0}
    assert transitions(cap) == [
        {"breaker_name": "payments", "from_state": "closed", "to_state": "open"},
        {"breaker_name": "payments", "from_state": "open", "to_state": "half_open"},
        {"breaker_name": "payments", "from_state": "half_open", "to_state": "closed"},
    ]
    rejected, trial = cap.spans()
    assert dict(rejected.attributes or {}) == {
        "breaker.name": "payments",
        "breaker.state": "open",
        "error.type": "circuit_breaker_open",
    }
    assert [e.name for e in rejected.events] == ["telemetry.breaker.rejected"]
    assert rejected.status.status_code is StatusCode.UNSET
    assert dict(trial.attributes or {}) == {"breaker.name": "payments", "breaker.state": "closed"}
    # logs on transitions only, at ERROR / WARNING / INFO; call outcomes stay at DEBUG
    assert [(log["event"], log["log_level"]) for log in cap.logs if log["log_level"] != "debug"] == [
        ("telemetry.breaker.opened", "error"),
        ("telemetry.breaker.half_opened", "warning"),
        ("telemetry.breaker.closed", "info"),
    ]
    assert cap.logs[2] == {
        "event": "telemetry.breaker.opened",
        "log_level": "error",
        "breaker.name": "payments",
        "breaker.from_state": "closed",
        "breaker.state": "open",
    }
    assert "secret" not in repr(cap.logs)


def test_open_and_half_open_within_one_scrape_still_shows_open_time() -> None:
    """A breaker that opens and half-opens between two scrapes still shows open time > 0,
    and the transitions counter saw both moves, although the state gauge never read "open"."""
    with capture() as cap:
        cb = instrument_breaker(pybreaker.CircuitBreaker(fail_max=1, reset_timeout=0.02, name="flappy"))
        assert one_hot(cap, "flappy")["closed"] == 1.0  # scrape 1
        with pytest.raises(pybreaker.CircuitBreakerError):
            cb.call(fail)
        time.sleep(0.03)
        with pytest.raises(pybreaker.CircuitBreakerError):
            cb.call(fail)  # half-open trial fails: open again
        time.sleep(0.03)
        cb.half_open()
        open_time = cap.sample("resilience_circuit_time_in_state_seconds_total", breaker_name="flappy", state="open")
        assert one_hot(cap, "flappy") == {"closed": 0.0, "open": 0.0, "half_open": 1.0}  # scrape 2
    assert open_time is not None
    assert open_time >= 0.05
    assert [(t["from_state"], t["to_state"]) for t in transitions(cap)] == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "open"),
    ]
    assert (
        cap.sample(
            "resilience_circuit_transitions_total", breaker_name="flappy", from_state="open", to_state="half_open"
        )
        == 2.0
    )


def test_instrument_twice_counts_once_and_uninstrument_records_nothing() -> None:
    """A second instrument call adds nothing; after uninstrumenting nothing is recorded."""
    cb = pybreaker.CircuitBreaker(name="payments")
    instrument_breaker(cb)
    instrument_breaker(cb)
    assert len(cb.listeners) == 1
    with capture() as cap:
        cb.call(ok)
        assert outcomes(cap, "payments") == {"success": 1.0, "failure": 0.0, "rejected": 0.0}
        uninstrument_breaker(cb)
        assert cb.listeners == ()
        assert cb.call(ok) == "paid"
        with pytest.raises(Down):
            cb.call(fail)
        assert outcomes(cap, "payments") == {"success": 1.0, "failure": 0.0, "rejected": 0.0}


def test_name_is_required() -> None:
    """An unnamed breaker is a configuration error with a clear message."""
    with pytest.raises(ValueError, match="name the breaker"):
        instrument_breaker(pybreaker.CircuitBreaker())


def test_decorator_and_context_manager_are_observed_too() -> None:
    """@cb and `with cb.calling()` go through the same observed call, rejections included."""
    cb = instrument_breaker(pybreaker.CircuitBreaker(fail_max=1, reset_timeout=60, name="deco"))

    @cb
    def guarded() -> str:
        return "fine"

    with capture() as cap:
        assert guarded() == "fine"
        with pytest.raises(pybreaker.CircuitBreakerError), cb.calling():
            raise Down
        with pytest.raises(pybreaker.CircuitBreakerError):
            guarded()
    assert outcomes(cap, "deco") == {"success": 1.0, "failure": 1.0, "rejected": 1.0}


def test_nested_breaker_rejection_is_not_the_outer_breakers_rejection() -> None:
    """An inner breaker's rejection propagating through an outer breaker counts as the
    inner one's rejection and the outer one's failure."""
    inner = instrument_breaker(pybreaker.CircuitBreaker(fail_max=1, reset_timeout=60, name="inner"))
    outer = instrument_breaker(pybreaker.CircuitBreaker(fail_max=10, name="outer"))
    inner.open()
    with capture() as cap, pytest.raises(pybreaker.CircuitBreakerError):
        outer.call(inner.call, ok)
    assert outcomes(cap, "inner") == {"success": 0.0, "failure": 0.0, "rejected": 1.0}
    assert outcomes(cap, "outer") == {"success": 0.0, "failure": 1.0, "rejected": 0.0}


def test_raising_sink_keeps_results_and_exceptions(raising_sink: Any) -> None:
    """A failing sink changes neither the value, the user's exception nor the rejection."""
    cb = instrument_breaker(pybreaker.CircuitBreaker(fail_max=2, reset_timeout=60, name="payments"))
    with capture(extra_sinks=[raising_sink]) as cap:
        assert cb.call(ok) == "paid"
        with pytest.raises(Down, match="secret"):
            cb.call(fail)
        with pytest.raises(pybreaker.CircuitBreakerError):
            cb.call(fail)
        with pytest.raises(pybreaker.CircuitBreakerError):
            cb.call(ok)
    assert outcomes(cap, "payments") == {"success": 1.0, "failure": 2.0, "rejected": 1.0}


def test_threads_count_exactly() -> None:
    """8 threads x 200 calls through one breaker: exact success and failure counts."""
    cb = instrument_breaker(pybreaker.CircuitBreaker(fail_max=10_000, name="busy"))

    def worker() -> None:
        for i in range(200):
            if i % 4 == 0:
                with pytest.raises(Down):
                    cb.call(fail)
            else:
                cb.call(ok)

    with capture() as cap:
        run_threads(worker, 8)
    assert outcomes(cap, "busy") == {"success": 1200.0, "failure": 400.0, "rejected": 0.0}


@pytest.mark.services
def test_redis_storage_state_is_tracked_and_scrapes_never_call_redis() -> None:
    """With CircuitRedisStorage on the real Redis, transitions are tracked from the listener
    and a scrape makes no Redis call at all; the initial state comes from the cached state."""
    require(port_open("127.0.0.1", 6379), "Redis on 127.0.0.1:6379")
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379)
    namespace = f"telemetry-test-{uuid.uuid4().hex}"
    calls: list[str] = []
    real = client.execute_command

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(str(args[0]))
        return real(*args, **kwargs)

    try:
        storage = pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, client, namespace=namespace)
        cb = instrument_breaker(pybreaker.CircuitBreaker(fail_max=1, reset_timeout=60, state_storage=storage, name="r"))
        client.execute_command = counting  # type: ignore[method-assign]
        with capture() as cap:
            with pytest.raises(pybreaker.CircuitBreakerError):
                cb.call(fail)
            with pytest.raises(pybreaker.CircuitBreakerError):
                cb.call(ok)
            assert client.get(f"{namespace}:pybreaker:state") == b"open"
            calls.clear()
            for _ in range(3):
                scraped = one_hot(cap, "r")
            assert calls == []
            assert scraped == {"closed": 0.0, "open": 1.0, "half_open": 0.0}
        assert outcomes(cap, "r") == {"success": 0.0, "failure": 1.0, "rejected": 1.0}
        # a second process-local observer of the same Redis state starts in "open", no transition
        uninstrument_breaker(cb)
        other = pybreaker.CircuitBreaker(state_storage=storage, name="r")
        with capture() as cap:
            instrument_breaker(other)
            assert one_hot(cap, "r") == {"closed": 0.0, "open": 1.0, "half_open": 0.0}
            assert transitions(cap) == []
    finally:
        client.execute_command = real  # type: ignore[method-assign]
        keys = list(client.scan_iter(f"{namespace}:*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_uninstrument_while_open_stops_counting_rejections() -> None:
    """Uninstrumenting an open breaker removes the rejection watch from its open state."""
    cb = instrument_breaker(pybreaker.CircuitBreaker(fail_max=1, reset_timeout=60, name="gate"))
    with capture() as cap:
        with pytest.raises(pybreaker.CircuitBreakerError):
            cb.call(fail)
        with pytest.raises(pybreaker.CircuitBreakerError):
            cb.call(ok)
        uninstrument_breaker(cb)
        with pytest.raises(pybreaker.CircuitBreakerError):
            cb.call(ok)
    assert outcomes(cap, "gate") == {"success": 0.0, "failure": 1.0, "rejected": 1.0}
