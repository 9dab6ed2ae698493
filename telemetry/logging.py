"""structlog processors and an opt-in JSON logging set-up.

The processors are plain callables a service can put in its own structlog chain:
:func:`add_trace_context` (W3C-width ``trace_id``/``span_id``), :func:`add_correlation_id`,
:class:`AddServiceName`, and :class:`~telemetry.redaction.Redactor` (re-exported from
:mod:`telemetry.redaction`, where all masking lives). The package itself never calls
``structlog.configure()``: :func:`configure_logging` does, only when the service asks.

:func:`configure_logging` gives one JSON stream for the whole process. structlog lines are
rendered directly by one processor (orjson, a locked writer): a log line is on the hot path of
every retry and breaker event, and stdlib's ``LogRecord``, ``findCaller`` and
``ProcessorFormatter`` cost several times the line itself. Records of stdlib loggers
(uvicorn's, SQLAlchemy's, the service's own) go through :class:`JsonHandler`, which adds the
same fields, applies the same redaction and writes through the same lock.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from contextvars import ContextVar
from typing import Any, ClassVar, Final

from opentelemetry import trace

from telemetry.correlation import get_correlation_id
from telemetry.redaction import SECRET_KEYS, Redactor, redact_text

__all__ = [
    "SECRET_KEYS",
    "UVICORN_LOGGERS",
    "UVICORN_LOG_CONFIG",
    "AddServiceName",
    "JsonHandler",
    "Redactor",
    "add_correlation_id",
    "add_trace_context",
    "configure_logging",
    "current_request",
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
        event_dict["timestamp"] = _iso_timestamp(record.created)
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
    """The shared processor chain (before rendering), for a service that builds its own
    structlog-through-stdlib set-up; :func:`configure_logging` adds the same fields faster."""
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


# --- the JSON pipeline of configure_logging -------------------------------------------------

#: The request being served, set by the HTTP middleware (``telemetry.instrument``): its ASGI
#: scope and start time (``perf_counter``), so a server's access line can carry the route and
#: the duration although the server's logger knows neither.
current_request: ContextVar[tuple[Mapping[str, Any], float] | None] = ContextVar(
    "telemetry_current_request", default=None
)

#: uvicorn's loggers; routed through the pipeline by ``configure_logging`` (``route_loggers``).
UVICORN_LOGGERS: Final = ("uvicorn", "uvicorn.error", "uvicorn.access")

#: ``uvicorn.run(app, log_config=UVICORN_LOG_CONFIG)`` (or ``--log-config`` with this as a JSON
#: file): uvicorn keeps its loggers and levels but installs no handler of its own, so its lines
#: reach the root logger, where :func:`configure_logging` renders them like every other line.
UVICORN_LOG_CONFIG: Final[dict[str, Any]] = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {
        "uvicorn": {"level": "INFO", "handlers": [], "propagate": True},
        "uvicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        "uvicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
    },
}

_HANDLER_NAME: Final = "telemetry-json"
_LEVEL_NAMES: Final = {"warn": "warning", "exception": "error", "fatal": "critical", "msg": "info"}


def _iso_timestamp(now: float) -> str:
    """``now`` as ISO-8601 UTC with microseconds, truncated exactly as :class:`_Clock` does (a
    ``datetime`` rounds instead, and the OTLP record of a line then differed by 1 us)."""
    second = int(now)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(second))}.{int((now - second) * 1e6):06d}Z"


class _Clock:
    """ISO-8601 UTC timestamps with microseconds; the formatted second is cached, so a line
    pays for one ``time.time()`` and one small f-string instead of a ``datetime``."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def format(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._prefix}.{int((now - second) * 1e6):06d}Z"  # as _iso_timestamp, inline


def _json_encoder() -> Callable[[Mapping[str, Any]], str]:
    """orjson when installed (a declared dependency), the standard library otherwise; both
    render what they cannot encode with ``repr``, as structlog's JSONRenderer does."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson is a dependency; a broken install still logs
        return functools.partial(json.dumps, default=repr, ensure_ascii=False)

    options = orjson.OPT_NON_STR_KEYS

    def encode(event: Mapping[str, Any]) -> str:
        try:
            return orjson.dumps(event, default=repr, option=options).decode()
        except TypeError:  # integers beyond 64 bits, mixed key types orjson refuses
            return json.dumps(event, default=repr, ensure_ascii=False)

    return encode


class _Pipeline:
    """What both kinds of lines go through: the same fields, the same redaction, one renderer,
    and one locked writer, so a structlog line and a stdlib line never interleave and keep the
    order in which each thread wrote them."""

    def __init__(self, stream: Any, service: str | None, extra: list[Any]) -> None:
        self.stream = stream
        self.service = service
        self.extra = extra
        self.lock = threading.Lock()
        self.clock = _Clock()
        self.encode = _json_encoder()
        self.redact = Redactor()
        self.last_ids: tuple[int, int, tuple[str, str]] = (0, 0, ("", ""))

    def enrich(self, event_dict: EventDict, now: float) -> None:
        """Timestamp, trace context, correlation ID and service, each only where known.

        The last span's hex IDs are reused: the lines of one request share them, and
        formatting two IDs per line cost more than the rest of these fields together.
        """
        event_dict["timestamp"] = self.clock.format(now)
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            trace_id, span_id, ids = self.last_ids
            if trace_id != ctx.trace_id or span_id != ctx.span_id:
                ids = (format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"))
                self.last_ids = (ctx.trace_id, ctx.span_id, ids)
            event_dict.setdefault("trace_id", ids[0])
            event_dict.setdefault("span_id", ids[1])
        correlation_id = get_correlation_id()
        if correlation_id is not None:
            event_dict.setdefault("correlation_id", correlation_id)
        if self.service:
            event_dict.setdefault("service", self.service)

    def line(self, logger: Any, method: str, event_dict: EventDict, now: float) -> str:
        """Exception text, redaction and rendering; empty fields are left out (an unset
        ``error.type`` is no information, and ``""`` breaks ``exists`` queries).

        Redaction runs on the call's own fields only, before the fields added here (IDs
        validated or generated by us, a timestamp, the configured service name): those cannot
        hold a secret, and skipping them halves the redactor's work. Extra processors see every
        field, so with any configured the fields are added first and redacted too.
        """
        extra = self.extra
        if extra:
            self.enrich(event_dict, now)
            for processor in extra:
                event_dict = processor(logger, method, event_dict)
        if "exc_info" in event_dict or "stack_info" in event_dict or "stack" in event_dict:
            _render_exception(event_dict)
        event_dict = self.redact(logger, method, event_dict)
        values = event_dict.values()
        if None in values or "" in values:
            for key in [key for key, value in event_dict.items() if value is None or value == ""]:
                del event_dict[key]
        if not extra:
            self.enrich(event_dict, now)
        return self.encode(event_dict)

    def write(self, line: str) -> None:
        with self.lock:
            self.stream.write(line + "\n")
            self.stream.flush()


def _render_exception(event_dict: EventDict) -> None:
    import structlog

    structlog.processors.StackInfoRenderer()(None, "", event_dict)
    structlog.processors.format_exc_info(None, "", event_dict)


class _StructlogLogger:
    """The wrapped logger behind structlog's filtering bound logger: the final processor
    already wrote the line, so every method only hands on to other root handlers (OTLP export),
    which get a record shaped as ``ProcessorFormatter.wrap_for_formatter`` makes it."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def _forward(self, event: Any) -> None:
        if not event:
            return
        event_dict, levelno, method = event
        record = logging.LogRecord(self.name, levelno, "(structlog)", 0, event_dict, None, None)
        record._logger = self  # the attributes ProcessorFormatter reads
        record._name = method
        for handler in logging.getLogger().handlers:
            if handler.get_name() != _HANDLER_NAME and levelno >= handler.level:
                handler.handle(record)

    debug = info = warning = warn = error = err = critical = fatal = exception = msg = log = _forward


class _LoggerFactory:
    __slots__ = ()

    def __call__(self, *args: Any) -> _StructlogLogger:
        name = args[0] if args and isinstance(args[0], str) else "root"
        return _StructlogLogger(name)


class _RenderStructlog:
    """The whole chain for the package's (and the service's) structlog lines, in one call:
    they never pay for stdlib's ``LogRecord``, ``findCaller`` or a formatter."""

    __slots__ = ("pipeline",)

    def __init__(self, pipeline: _Pipeline) -> None:
        self.pipeline = pipeline

    def __call__(self, logger: Any, method: str, event_dict: EventDict) -> Any:
        pipeline = self.pipeline
        level = _LEVEL_NAMES.get(method, method)
        event_dict["level"] = level
        event_dict["logger"] = getattr(logger, "name", "root")
        pipeline.write(pipeline.line(logger, method, event_dict, time.time()))
        if len(logging.getLogger().handlers) > 1:  # OTLP export or another handler is listening
            levelno = logging.getLevelName(level.upper())
            # the same timestamp as the local line: an OTLP record must match it field by field
            return ((dict(event_dict), levelno if isinstance(levelno, int) else logging.INFO, method),), {}
        return ""  # nothing for the wrapped logger to do


# Attributes every LogRecord has: anything else on a record came from ``extra=``. ``message``
# and ``asctime`` are set by any other formatter that saw the record first (basicConfig's), and
# ``color_message`` is uvicorn's coloured copy of the message: none of them is a field.
_RECORD_ATTRIBUTES: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
    "taskName",
}


class JsonHandler(logging.Handler):
    """Renders records of stdlib loggers into the same JSON stream as the structlog lines.

    The message goes to ``event`` (no ``message`` copy); ``extra=`` fields are kept; the
    logger keeps its own name. uvicorn's access lines also get the method, path, status and,
    inside an instrumented app, the route and the time to the response's start.
    """

    def __init__(self, pipeline: _Pipeline) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.set_name(_HANDLER_NAME)

    def handle(self, record: logging.LogRecord) -> bool:
        """Without the handler's own lock: the pipeline's writer is the one lock we need."""
        if self.filters and not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.pipeline.write(self.render(record))
        except Exception:
            self.handleError(record)

    def render(self, record: logging.LogRecord) -> str:
        """The record's JSON line."""
        event_dict: dict[str, Any] = {"event": record.getMessage()}
        event_dict.update(
            (key, value)
            for key, value in vars(record).items()
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_")
        )
        event_dict["level"] = record.levelname.lower()
        event_dict["logger"] = record.name
        if record.name == "uvicorn.access":
            _access_fields(record, event_dict)
        if record.exc_info:
            event_dict["exc_info"] = record.exc_info
        if record.stack_info:
            event_dict["stack"] = record.stack_info
        return self.pipeline.line(None, record.levelname.lower(), event_dict, record.created)


def _access_fields(record: logging.LogRecord, event_dict: dict[str, Any]) -> None:
    """uvicorn's access record: ``(client, method, path, http_version, status)`` as fields."""
    args = record.args
    if not isinstance(args, tuple) or len(args) != 5:
        return
    _client, method, full_path, _version, status = args
    path = str(full_path).partition("?")[0]
    event_dict["event"] = f"{method} {path} {status}"  # the query string may carry tokens
    event_dict["http.request.method"] = method
    event_dict["url.path"] = path
    event_dict["http.response.status_code"] = status
    request = current_request.get()
    if request is not None:
        scope, started = request
        route = scope.get("route")
        template = getattr(route, "path_format", None) or getattr(route, "path", None)
        # Unmatched paths (404s) share one value, as in the duration histogram's route label.
        event_dict["http.route"] = template if isinstance(template, str) else "_UNMATCHED"
        event_dict["duration_ms"] = round((time.perf_counter() - started) * 1e3, 3)


class _Installed:
    """What ``configure_logging`` changed, so ``unconfigure_logging`` can put it back."""

    removed: ClassVar[list[logging.Handler]] = []
    routed: ClassVar[dict[str, tuple[list[logging.Handler], bool]]] = {}


def configure_logging(
    *,
    service: str | None = None,
    level: int | str = logging.INFO,
    stream: Any = None,
    extra_processors: Iterable[Any] = (),
    route_loggers: Iterable[str] = UVICORN_LOGGERS,
    replace_handlers: bool = True,
) -> None:
    """Opt-in: one stream of JSON lines on ``stream`` (stdout) for everything the process logs.

    Every line carries ``timestamp``, ``level``, ``logger`` and ``event``, and ``trace_id``,
    ``span_id``, ``correlation_id`` and ``service`` where known, with secrets masked and empty
    fields left out. structlog lines are rendered directly (no stdlib round trip); stdlib
    records go through the same fields, redaction, renderer and locked writer.

    ``replace_handlers`` removes the root logger's other handlers (a prior ``basicConfig()``),
    so no line is written twice; ``route_loggers`` (uvicorn's by default) lose their own
    handlers and propagate to the root, keeping their names and levels. A server that
    configures logging after this call (``uvicorn.run``) needs
    ``log_config=UVICORN_LOG_CONFIG``. Calling this again replaces the previous configuration.
    """
    import structlog

    threshold = level if isinstance(level, int) else logging.getLevelName(str(level).upper())
    if not isinstance(threshold, int):
        msg = f"unknown log level {level!r}"
        raise ValueError(msg)  # noqa: TRY004 - a bad value, as logging.setLevel reports it
    pipeline = _Pipeline(stream or sys.stdout, service, list(extra_processors))
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, _RenderStructlog(pipeline)],
        logger_factory=_LoggerFactory(),
        # Level filtering in the bound logger: a dropped DEBUG line costs a no-op method call.
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
        elif replace_handlers and existing.get_name() != "telemetry-otlp":
            root.removeHandler(existing)
            _Installed.removed.append(existing)
    for name in route_loggers:
        routed = logging.getLogger(name)
        _Installed.routed.setdefault(name, (list(routed.handlers), routed.propagate))
        for existing in list(routed.handlers):
            routed.removeHandler(existing)
        routed.propagate = True
    root.addHandler(JsonHandler(pipeline))
    root.setLevel(threshold)


def unconfigure_logging() -> None:
    """Undo :func:`configure_logging`: structlog back to its defaults, our handler removed, the
    handlers it replaced and the loggers it routed as they were."""
    import structlog

    structlog.reset_defaults()
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    for handler in _Installed.removed:
        if handler not in root.handlers:
            root.addHandler(handler)
    _Installed.removed.clear()
    for name, (handlers, propagate) in _Installed.routed.items():
        routed = logging.getLogger(name)
        for handler in handlers:
            if handler not in routed.handlers:
                routed.addHandler(handler)
        routed.propagate = propagate
    _Installed.routed.clear()
