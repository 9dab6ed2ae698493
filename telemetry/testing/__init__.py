"""Public test helpers: a fresh registry, in-memory spans and captured log lines, wired to a
recorder of their own so tests never touch the process-wide providers.

Usage::

    from telemetry.testing import capture

    def test_retry_is_counted():
        with capture() as cap:
            telemetry.record(RetryScheduled(retry_name="db", attempt=1, delay=0.1))
        assert cap.sample("resilience_retry_scheduled_total", retry_name="db", error_type="") == 1

Also here, so test suites need no copies of their own: :class:`RaisingSink` (a sink that
fails on every event), :func:`eventually` / :func:`eventually_async` (poll until a condition
holds), :func:`json_logs` / :func:`json_lines` (the JSON log lines a service ships) and
:func:`require_service` (skip when a service is missing locally, fail under ``CI=true``).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from telemetry.recorder import LogLevel, LogSink, MetricsSink, Recorder, TraceSink, set_recorder

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping

    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Tracer
    from prometheus_client import CollectorRegistry

    from telemetry.metrics import Instruments

__all__ = [
    "Capture",
    "JsonLogs",
    "RaisingSink",
    "capture",
    "ci",
    "eventually",
    "eventually_async",
    "in_memory_tracer",
    "json_lines",
    "json_logs",
    "port_open",
    "require_service",
]

T = TypeVar("T")


def in_memory_tracer() -> tuple[TracerProvider, InMemorySpanExporter]:
    """A tracer provider exporting synchronously into memory (not installed globally)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@dataclass
class Capture:
    """What a :func:`capture` block recorded."""

    registry: CollectorRegistry
    instruments: Instruments
    recorder: Recorder
    tracer_provider: TracerProvider
    exporter: InMemorySpanExporter
    logs: list[MutableMapping[str, Any]] = field(default_factory=list)

    @property
    def tracer(self) -> Tracer:
        return self.tracer_provider.get_tracer("telemetry.testing")

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def sample(self, name: str, **labels: str) -> float | None:
        """One sample's value, or ``None`` if that series does not exist."""
        return self.registry.get_sample_value(name, labels)

    def series(self, name: str) -> list[dict[str, str]]:
        """Label sets of every sample named ``name``."""
        return [
            dict(sample.labels)
            for metric in self.registry.collect()
            for sample in metric.samples
            if sample.name == name
        ]

    def series_count(self) -> int:
        """All samples in the registry; for cardinality checks."""
        return sum(len(metric.samples) for metric in self.registry.collect())


@contextlib.contextmanager
def capture(
    *,
    label_cap: int = 100,
    log_levels: Mapping[str, LogLevel | str] | None = None,
    extra_sinks: list[Any] | None = None,
) -> Iterator[Capture]:
    """Record into a fresh registry, in-memory spans and captured structlog lines.

    The process recorder (``telemetry.state.STATE.recorder``) is swapped for the block and
    restored afterwards. Log lines are structlog event dicts (``event``, ``log_level`` and the
    event's fields).
    """
    import structlog
    from prometheus_client import CollectorRegistry

    from telemetry.metrics import Instruments

    registry = CollectorRegistry()
    instruments = Instruments(registry, label_cap=label_cap)
    sinks: list[Any] = [MetricsSink(instruments), TraceSink(), LogSink(log_levels), *(extra_sinks or [])]
    recorder = Recorder(instruments, sinks)
    provider, exporter = in_memory_tracer()
    previous = set_recorder(recorder)
    try:
        with structlog.testing.capture_logs() as logs:
            yield Capture(registry, instruments, recorder, provider, exporter, logs)
    finally:
        set_recorder(previous)


@dataclass
class JsonLogs:
    """The JSON lines a service would ship, written to a buffer."""

    stream: io.StringIO

    def lines(self) -> list[dict[str, Any]]:
        return json_lines(self.stream)


def json_lines(source: io.StringIO | str) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines stream or text, blank lines skipped."""
    text = source if isinstance(source, str) else source.getvalue()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@contextlib.contextmanager
def json_logs(*, service: str = "test", level: int = logging.DEBUG) -> Iterator[JsonLogs]:
    """:func:`~telemetry.logging.configure_logging` into a buffer for the block, undone after."""
    from telemetry.logging import configure_logging, unconfigure_logging

    logs = JsonLogs(io.StringIO())
    configure_logging(service=service, stream=logs.stream, level=level)
    try:
        yield logs
    finally:
        unconfigure_logging()


class RaisingSink:
    """A sink that raises ``error`` on every event and counts the calls.

    ``name`` is what its failures are counted under in
    ``resilience_telemetry_sink_errors_total{sink}``; pass one of ``metrics``, ``trace`` or
    ``log`` to stand in for a built-in sink.
    """

    __slots__ = ("calls", "error", "name")

    def __init__(self, name: str = "raising", error: type[Exception] = RuntimeError) -> None:
        self.name = name
        self.error = error
        self.calls = 0

    def __call__(self, _event: object, /) -> None:
        self.calls += 1
        msg = f"sink {self.name!r} is broken on purpose"
        raise self.error(msg)


def eventually(check: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.05, what: str = "") -> T:
    """Call ``check()`` until it returns something truthy, and return that.

    For conditions another thread or process brings about (a scrape, a worker exit). Raises
    ``AssertionError`` naming ``what`` and the last result after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            msg = f"{what or 'condition'} not met within {timeout}s (last: {result!r})"
            raise AssertionError(msg)
        time.sleep(interval)


async def eventually_async(
    check: Callable[[], Awaitable[T]], *, timeout: float = 10.0, interval: float = 0.05, what: str = ""
) -> T:
    """:func:`eventually` for an async ``check``; sleeps without blocking the event loop."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            msg = f"{what or 'condition'} not met within {timeout}s (last: {result!r})"
            raise AssertionError(msg)
        await asyncio.sleep(interval)


def ci() -> bool:
    """Whether ``CI`` is set to a true value: then nothing that needs a service may skip."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``host:port`` (one-second timeout)."""
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def require_service(available: bool, what: str) -> None:
    """Skip the calling test when ``what`` (a service or tool) is missing; fail under ``CI=true``.

    A developer machine may lack RabbitMQ or promtool; CI must not, so there a missing one is
    a failure rather than a quietly skipped test. Needs pytest (imported here, at use).
    """
    if available:
        return
    import pytest

    if ci():
        pytest.fail(f"{what} is required under CI=true but is not available")
    pytest.skip(f"{what} is not available")
