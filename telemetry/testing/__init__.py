"""Public test helpers: a fresh registry, in-memory spans and captured log lines, wired to a
recorder of their own so tests never touch the process-wide providers.

Usage::

    from telemetry.testing import capture

    def test_retry_is_counted():
        with capture() as cap:
            telemetry.record(RetryScheduled(retry_name="db", attempt=1, delay=0.1))
        assert cap.sample("resilience_retry_scheduled_total", retry_name="db", error_type="") == 1
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telemetry.recorder import LogLevel, LogSink, MetricsSink, Recorder, TraceSink, set_recorder

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, MutableMapping

    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Tracer
    from prometheus_client import CollectorRegistry

    from telemetry.metrics import Instruments

__all__ = ["Capture", "JsonLogs", "capture", "in_memory_tracer", "json_logs"]


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

    The process recorder is swapped for the block and restored afterwards. Log lines are
    structlog event dicts (``event``, ``log_level`` and the event's fields).
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
        if previous is not None:
            set_recorder(previous)
        else:
            from telemetry.recorder import reset_recorder

            reset_recorder()


@dataclass
class JsonLogs:
    """The JSON lines a service would ship, written to a buffer."""

    stream: io.StringIO

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line.strip()]


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
