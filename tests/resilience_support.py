"""Helpers shared by the retry and breaker tests."""

from __future__ import annotations

from typing import Any


class Flaky(ConnectionError):
    """A retryable dependency error."""


class Fatal(ValueError):
    """An error no policy retries."""


def flaky(failures: int, exc: type[BaseException] = Flaky) -> Any:
    """A function that raises ``exc`` (with a secret in its message) ``failures`` times, then returns "ok"."""
    left = [failures]

    def call() -> str:
        if left[0] > 0:
            left[0] -= 1
            raise exc("dependency said no: password=hunter2")
        return "ok"

    return call


def outcomes(cap: Any, name: str) -> dict[str, float]:
    """``resilience_circuit_calls_total`` of breaker ``name`` by outcome."""
    return {
        s["outcome"]: cap.sample("resilience_circuit_calls_total", **s)
        for s in cap.series("resilience_circuit_calls_total")
        if s["breaker_name"] == name
    }


def one_hot(cap: Any, name: str) -> dict[str, float | None]:
    """The state gauge of breaker ``name``, one value per state."""
    return {
        state: cap.sample("resilience_circuit_state", breaker_name=name, state=state)
        for state in ("closed", "open", "half_open")
    }


def run_threads(worker: Any, count: int, *args: Any) -> None:
    """Run ``worker(*args)`` in ``count`` threads and wait for all of them (bounded)."""
    import threading

    threads = [threading.Thread(target=worker, args=args) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
