"""OTLP export that can never slow the service down, and that counts what it loses.

Spans and log records are exported by OpenTelemetry's batch processors: the business thread
only appends to a bounded queue and a background thread exports. These subclasses add two
things, both counted in ``resilience_telemetry_export_dropped_total{signal, reason}``:

* ``queue_full``: the collector is down or slow and the queue
  (``OTEL_BSP_MAX_QUEUE_SIZE`` / ``OTEL_BLRP_MAX_QUEUE_SIZE``, 2048 by default) is full. The
  item is dropped at once without touching the queue, instead of the SDK's one warning log line
  per dropped item (which floods the logs exactly when the pipeline is in trouble).
* ``export_failed``: the exporter gave up on a batch (HTTP 5xx after its retries, a timeout,
  a refused connection) or raised.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Final

from telemetry import catalog

if TYPE_CHECKING:
    from collections.abc import Sequence

    from telemetry.metrics import Instruments

__all__ = ["DropCountingExporter", "log_record_processor", "span_processor"]

_SIGNALS: Final = catalog.TELEMETRY_EXPORT_DROPPED.labels[0].values or ()


def _count(instruments: Instruments, signal: str, reason: str, amount: int) -> None:
    # Counting a loss must not become a second failure.
    with contextlib.suppress(Exception):
        instruments.child(catalog.TELEMETRY_EXPORT_DROPPED, signal, reason).inc(amount)


class DropCountingExporter:
    """Wraps a span or log exporter; a failed or raising ``export`` counts its batch as lost."""

    __slots__ = ("_exporter", "_instruments", "_signal")

    def __init__(self, exporter: Any, instruments: Instruments, signal: str) -> None:
        if signal not in _SIGNALS:
            msg = f"signal must be one of {_SIGNALS}, got {signal!r}"
            raise ValueError(msg)
        self._exporter = exporter
        self._instruments = instruments
        self._signal = signal

    def export(self, batch: Sequence[Any]) -> Any:
        try:
            result = self._exporter.export(batch)
        except Exception:
            _count(self._instruments, self._signal, "export_failed", len(batch))
            raise
        # SpanExportResult / LogRecordExportResult: both name success SUCCESS.
        if getattr(result, "name", "SUCCESS") != "SUCCESS":
            _count(self._instruments, self._signal, "export_failed", len(batch))
        return result

    def shutdown(self, *args: Any, **kwargs: Any) -> Any:
        return self._exporter.shutdown(*args, **kwargs)

    def force_flush(self, *args: Any, **kwargs: Any) -> Any:
        return self._exporter.force_flush(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._exporter, name)


def _queue_full(processor: Any) -> bool:
    """Whether the SDK batch processor's queue is full (``False`` if its internals moved)."""
    inner = getattr(processor, "_batch_processor", None)
    queue = getattr(inner, "_queue", None)
    limit = getattr(inner, "_max_queue_size", None)
    return queue is not None and isinstance(limit, int) and len(queue) >= limit


def span_processor(exporter: Any, instruments: Instruments, **options: Any) -> Any:
    """A ``BatchSpanProcessor`` over ``exporter`` that counts dropped and failed spans."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    class CountingBatchSpanProcessor(BatchSpanProcessor):
        def on_end(self, span: Any) -> None:
            if _queue_full(self):
                _count(instruments, "traces", "queue_full", 1)
                return
            super().on_end(span)

    return CountingBatchSpanProcessor(DropCountingExporter(exporter, instruments, "traces"), **options)  # type: ignore[arg-type]


def log_record_processor(exporter: Any, instruments: Instruments, **options: Any) -> Any:
    """A ``BatchLogRecordProcessor`` over ``exporter`` that counts dropped and failed records."""
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    class CountingBatchLogRecordProcessor(BatchLogRecordProcessor):
        def on_emit(self, log_record: Any) -> None:
            if _queue_full(self):
                _count(instruments, "logs", "queue_full", 1)
                return
            super().on_emit(log_record)

    return CountingBatchLogRecordProcessor(DropCountingExporter(exporter, instruments, "logs"), **options)  # type: ignore[arg-type]
