"""OTLP log export that carries the same redacted lines as the JSON logs.

The stock handler copies every ``LogRecord`` attribute, including structlog's internals and
raw exception messages, into the exported record. This one exports the rendered, redacted
JSON line as the body, keeps only plain attributes (``_``-prefixed internals dropped, strings
redacted), and so never sends anywhere what the local JSON log would not show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from telemetry.redaction import Redactor

if TYPE_CHECKING:
    import logging

__all__ = ["handler"]

_PLAIN = (str, bool, int, float)


def handler(provider: Any) -> logging.Handler:
    """A logging handler exporting through ``provider`` (an SDK ``LoggerProvider``)."""
    try:
        from opentelemetry.instrumentation.logging.handler import LoggingHandler
    except ImportError as exc:
        msg = "OTLP log export needs: pip install 'resilience-telemetry[otlp]'"
        raise ImportError(msg) from exc
    import structlog

    class RedactingHandler(LoggingHandler):
        def _get_attributes(self, record: logging.LogRecord) -> tuple[dict[str, Any], str | None]:
            attributes, event_name = super()._get_attributes(record)
            kept = {
                key: value for key, value in attributes.items() if not key.startswith("_") and isinstance(value, _PLAIN)
            }
            return dict(redact(None, "otlp", kept)), event_name

    redact = Redactor()
    exported = RedactingHandler(logger_provider=provider)
    exported.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.ExtraAdder()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                Redactor(),
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    exported.set_name("telemetry-otlp")
    return exported
