"""OTLP log export that carries the same redacted line, and the same fields, as the JSON logs.

The stock handler copies every ``LogRecord`` attribute, including structlog's internals and
raw exception messages, into the exported record, and gives a stdlib record only its message.
This one runs the same processor chain as the local JSON line (level, logger, timestamp,
``trace_id``/``span_id``, ``correlation_id``, service, extras; secrets masked) for structlog
and stdlib records alike, exports the rendered line as the body, and every field of that line
as an attribute, so a log backend can filter on the correlation ID, ``error.type`` or a
breaker's name without parsing the body. The trace and span IDs also go in the record's own
fields (the SDK takes them from the current span).

Records that OpenTelemetry itself logs (its exporters' "Transient error ... retrying", the
SDK's warnings), or that are logged on an export thread, are not exported: during a collector
outage they would otherwise be queued behind the very export that is failing, and loop. They
still reach the local log handlers.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any, Final

from telemetry.logging import processors
from telemetry.redaction import Redactor

if TYPE_CHECKING:
    import logging

    from structlog.typing import EventDict

__all__ = ["handler", "is_exporter_diagnostic"]

_PLAIN: Final = (str, bool, int, float)
#: loggers of OpenTelemetry itself (SDK, exporters, instrumentation)
_OWN_LOGGERS: Final = ("opentelemetry",)
#: threads that export (the SDK's batch processors, our metric export loop)
_EXPORT_THREADS: Final = ("OtelBatch", "OtelPeriodic", "telemetry-otlp")


def is_exporter_diagnostic(record: logging.LogRecord) -> bool:
    """Whether ``record`` is about the export pipeline itself, which must not feed it."""
    name = record.name
    if any(name == own or name.startswith(own + ".") for own in _OWN_LOGGERS):
        return True
    return (record.threadName or "").startswith(_EXPORT_THREADS)


def _attribute(value: Any) -> Any:
    if isinstance(value, _PLAIN):
        return value
    return json.dumps(value, default=str, sort_keys=True)


def handler(provider: Any, service: str | None = None) -> logging.Handler:
    """A logging handler exporting through ``provider`` (an SDK ``LoggerProvider``)."""
    try:
        from opentelemetry.instrumentation.logging.handler import LoggingHandler
    except ImportError as exc:
        msg = "OTLP log export needs: pip install 'resilience-telemetry[otlp]'"
        raise ImportError(msg) from exc
    import structlog

    fields = threading.local()

    def keep_fields(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
        """The redacted fields of the line being rendered, for ``_get_attributes`` below
        (``format`` and ``_get_attributes`` run one after the other on the emitting thread)."""
        fields.last = {key: _attribute(value) for key, value in event_dict.items() if value is not None}
        return event_dict

    class FieldsHandler(LoggingHandler):
        def filter(self, record: logging.LogRecord) -> Any:
            return not is_exporter_diagnostic(record) and super().filter(record)

        def _get_attributes(self, record: logging.LogRecord) -> tuple[dict[str, Any], str | None]:
            attributes: dict[str, Any] = getattr(fields, "last", None) or {}
            fields.last = None
            if record.exc_info and record.exc_info[0] is not None:
                attributes["exception.type"] = record.exc_info[0].__name__
            return attributes, None

    exported = FieldsHandler(logger_provider=provider)
    exported.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *processors(service)],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.StackInfoRenderer(),
                structlog.processors.format_exc_info,
                Redactor(),
                keep_fields,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    exported.set_name("telemetry-otlp")
    return exported
