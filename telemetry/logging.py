"""structlog processors and an opt-in JSON logging set-up.

The processors are plain callables a service can put in its own structlog chain:
:func:`add_trace_context` (W3C-width ``trace_id``/``span_id``), :func:`add_correlation_id`,
:class:`AddServiceName`, and :class:`~telemetry.redaction.Redactor` (re-exported from
:mod:`telemetry.redaction`, where all masking lives). The package itself never calls
``structlog.configure()``: :func:`configure_logging` does, only when the service asks.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

from opentelemetry import trace

from telemetry.correlation import get_correlation_id
from telemetry.redaction import SECRET_KEYS, Redactor, redact_text

__all__ = [
    "SECRET_KEYS",
    "AddServiceName",
    "Redactor",
    "add_correlation_id",
    "add_trace_context",
    "configure_logging",
    "processors",
    "redact_text",
    "unconfigure_logging",
]

EventDict = MutableMapping[str, Any]


def add_trace_context(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """Add ``trace_id`` (32 hex) and ``span_id`` (16 hex) of the current span, if any."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event_dict.setdefault("span_id", format(ctx.span_id, "016x"))
    return event_dict


def add_record_time(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """Stamp a stdlib record with its own creation time: every handler renders a stdlib record
    on its own, and the local JSON line and the OTLP record must carry the same timestamp."""
    record = event_dict.get("_record")
    if record is not None and not event_dict.get("_from_structlog"):
        stamp = dt.datetime.fromtimestamp(record.created, tz=dt.timezone.utc)
        event_dict["timestamp"] = stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return event_dict


def add_correlation_id(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """Add the current correlation ID, if any."""
    value = get_correlation_id()
    if value is not None:
        event_dict.setdefault("correlation_id", value)
    return event_dict


class AddServiceName:
    """Add a fixed ``service`` field."""

    __slots__ = ("service",)

    def __init__(self, service: str) -> None:
        self.service = service

    def __call__(self, _logger: Any, _method: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", self.service)
        return event_dict


def processors(service: str | None = None) -> list[Any]:
    """The shared processor chain (before rendering) for structlog and stdlib records."""
    import structlog

    chain: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_record_time,
        add_trace_context,
        add_correlation_id,
    ]
    if service:
        chain.append(AddServiceName(service))
    return chain


def configure_logging(
    *,
    service: str | None = None,
    level: int | str = logging.INFO,
    stream: Any = None,
    extra_processors: Iterable[Any] = (),
) -> None:
    """Opt-in: JSON lines on ``stream`` (stdout) for structlog and stdlib logging alike.

    Every line carries ``timestamp``, ``level``, ``logger``, ``event``, ``trace_id``,
    ``span_id``, ``correlation_id`` and ``service`` where known, with secrets masked.
    Calling it again replaces the previous configuration (no duplicate handlers).
    """
    import structlog

    shared = [*processors(service), *extra_processors]
    render = [
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        Redactor(),
        structlog.processors.JSONRenderer(),
    ]
    structlog.configure(
        # Level filtering first: a dropped DEBUG line must not pay for the whole chain.
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *render],  # type: ignore[list-item]
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    handler.set_name("telemetry-json")
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "telemetry-json":
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)


def unconfigure_logging() -> None:
    """Undo :func:`configure_logging`: structlog back to its defaults, our handler removed."""
    import structlog

    structlog.reset_defaults()
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "telemetry-json":
            root.removeHandler(existing)
