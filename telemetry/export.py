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

Spans are also scrubbed on their way out (:func:`scrubbed`): the package never writes an
exception message on a span, but instrumentations it does not control and the service's own
spans do (the SDK's ``record_exception``, a status description), and a driver's message can
quote a DSN with its password. The scrubbing runs in the export thread, never in a request.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Final

from telemetry import catalog
from telemetry.redaction import redact_text, redact_value

if TYPE_CHECKING:
    from collections.abc import Sequence

    from telemetry.metrics import Instruments

__all__ = ["DropCountingExporter", "RedactingSpanExporter", "log_record_processor", "scrubbed", "span_processor"]

_SIGNALS: Final = catalog.TELEMETRY_EXPORT_DROPPED.labels[0].values or ()


def _count(instruments: Instruments, signal: str, reason: str, amount: int) -> None:
    # Counting a loss must not become a second failure.
    with contextlib.suppress(Exception):
        instruments.child(catalog.TELEMETRY_EXPORT_DROPPED, signal, reason).inc(amount)


class _Wrapping:
    """An exporter around another: everything but ``export`` goes to the wrapped one."""

    __slots__ = ("_exporter",)

    def __init__(self, exporter: Any) -> None:
        self._exporter = exporter

    def shutdown(self, *args: Any, **kwargs: Any) -> Any:
        return self._exporter.shutdown(*args, **kwargs)

    def force_flush(self, *args: Any, **kwargs: Any) -> Any:
        return self._exporter.force_flush(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._exporter, name)


class DropCountingExporter(_Wrapping):
    """Wraps a span or log exporter; a failed or raising ``export`` counts its batch as lost."""

    __slots__ = ("_instruments", "_signal")

    def __init__(self, exporter: Any, instruments: Instruments, signal: str) -> None:
        if signal not in _SIGNALS:
            msg = f"signal must be one of {_SIGNALS}, got {signal!r}"
            raise ValueError(msg)
        super().__init__(exporter)
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


def _scrubbed_attributes(attributes: Any) -> Any:
    """``attributes`` through the one redaction (a secret-named attribute such as a captured
    ``http.request.header.authorization`` masked whole, credentials inside other strings); the
    same object when nothing needed masking."""
    if not attributes:
        return attributes
    masked = redact_value(dict(attributes))
    return attributes if masked == dict(attributes) else masked


def scrubbed(span: Any) -> Any:
    """``span`` with credentials masked in its attributes, its events' attributes (an
    exception's message and stack trace) and its status description; ``span`` itself when
    nothing needed masking."""
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import Status

    attributes = _scrubbed_attributes(span.attributes)
    changed = attributes is not span.attributes
    events = []
    for event in span.events:
        cleaned = _scrubbed_attributes(event.attributes)
        changed = changed or cleaned is not event.attributes
        events.append(event if cleaned is event.attributes else Event(event.name, cleaned, event.timestamp))
    status = span.status
    description = redact_text(status.description) if status.description else status.description
    if description != status.description:
        status, changed = Status(status.status_code, description), True
    if not changed:
        return span
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class RedactingSpanExporter(_Wrapping):
    """Wraps a span exporter: every span it exports is :func:`scrubbed` first."""

    __slots__ = ()

    def export(self, spans: Sequence[Any]) -> Any:
        return self._exporter.export([scrubbed(span) for span in spans])


def _queue_full(processor: Any) -> bool:
    """Whether the SDK batch processor's queue is full (``False`` if its internals moved)."""
    inner = getattr(processor, "_batch_processor", None)
    queue = getattr(inner, "_queue", None)
    limit = getattr(inner, "_max_queue_size", None)
    return queue is not None and isinstance(limit, int) and len(queue) >= limit


def span_processor(exporter: Any, instruments: Instruments, **options: Any) -> Any:
    """A ``BatchSpanProcessor`` over ``exporter`` that counts dropped and failed spans and
    masks credentials in what it exports."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    class CountingBatchSpanProcessor(BatchSpanProcessor):
        def on_end(self, span: Any) -> None:
            if _queue_full(self):
                _count(instruments, "traces", "queue_full", 1)
                return
            super().on_end(span)

    counted = DropCountingExporter(RedactingSpanExporter(exporter), instruments, "traces")
    return CountingBatchSpanProcessor(counted, **options)  # type: ignore[arg-type]


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
