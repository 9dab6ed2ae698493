"""structlog processors and an opt-in JSON logging set-up.

The processors are plain callables a service can put in its own structlog chain:
:func:`add_trace_context` (W3C-width ``trace_id``/``span_id``), :func:`add_correlation_id`,
:class:`AddServiceName` and :class:`Redactor` (masks secrets by key and credentials inside
URLs/DSNs, also inside rendered exception text). The package itself never calls
``structlog.configure()``: :func:`configure_logging` does, only when the service asks.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, Final

from opentelemetry import trace

from telemetry.correlation import get_correlation_id

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
MASK: Final = "***"
SECRET_KEYS: Final = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "authorization",
        "auth",
        "cookie",
        "set-cookie",
        "api_key",
        "apikey",
        "x-api-key",
        "private_key",
        "client_secret",
        "aws_secret_access_key",
        "credentials",
        "session",
    }
)
# user:password@ in any scheme://; also key=value pairs such as password=... in DSNs/strings.
# Every repetition is bounded: unbounded ones made redaction quadratic in the text length.
_URL_CREDENTIALS: Final = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,31}://)(?P<user>[^:/@\s]{0,256}):(?P<pw>[^@/\s]{0,1024})@"
)
# The key may carry a prefix or suffix (aws_secret_access_key, X-Amz-Signature, db_password): the
# match starts at the keyword (a prefix needs no matching, it stays as it is) and only the value goes.
_KEY_VALUE: Final = re.compile(
    r"(?i)(?P<key>(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|signature)[\w-]{0,32})"
    r"(?P<sep>\s*[=:]\s*)(?P<value>\"[^\"]*\"|'[^']*'|[^\s,;&]+)"
)
_BEARER: Final = re.compile(r"(?i)\b(?P<kind>bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")


# One cheap search decides whether the three substitutions below are needed at all.
_SUSPECT: Final = re.compile(r"(?i)://|passw|pwd|secret|token|api[_-]?key|access[_-]?key|signature|bearer|basic")


def redact_text(text: str) -> str:
    """Mask credentials inside free text: URL/DSN passwords, ``key=value`` secrets, bearer tokens."""
    if _SUSPECT.search(text) is None:
        return text
    if "://" in text:
        text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _KEY_VALUE.sub(lambda m: f"{m['key']}{m['sep']}{MASK}", text)
    return _BEARER.sub(lambda m: f"{m['kind']} {MASK}", text)


_key_verdicts: dict[str, bool] = {}


def _is_secret_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    verdict = _key_verdicts.get(key)
    if verdict is None:
        lowered = key.lower()
        verdict = lowered in SECRET_KEYS or any(
            part in lowered for part in ("password", "secret", "token", "api_key", "apikey")
        )
        if len(_key_verdicts) < 4096:  # field names are few; a flood of odd keys is not cached
            _key_verdicts[key] = verdict
    return verdict


_MAX_DEPTH: Final = 8
_PLAIN: Final = (bool, int, float, type(None))


def _redact(value: Any, depth: int = 0) -> Any:
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if depth >= _MAX_DEPTH:
        return MASK  # too deep to inspect is too deep to trust
    if isinstance(value, Mapping):
        return {k: MASK if _is_secret_key(k) else _redact(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # Plain list/tuple: subclasses such as namedtuples do not take an iterable.
        items = [_redact(v, depth + 1) for v in value]
        return items if isinstance(value, list) else tuple(items)
    return _rendered(value)


def _rendered(value: object) -> str:
    """Anything else (exceptions, bytes, objects) rendered as JSONRenderer would, then scrubbed:
    an exception logged as a field carries its message, often a DSN."""
    try:
        return redact_text(repr(value))
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


# Written by structlog's own processors, overwriting whatever the call passed: never secrets.
_OWN_KEYS: Final = frozenset({"exc_info", "timestamp", "level", "logger"})


class Redactor:
    """Masks values of secret-looking keys (at any depth) and credentials inside strings.

    Place it last before the renderer, after ``format_exc_info``, so rendered tracebacks are
    scrubbed too.
    """

    __slots__ = ()

    def __call__(self, _logger: Any, _method: str, event_dict: EventDict) -> EventDict:
        for key, value in event_dict.items():
            if key in _OWN_KEYS or (isinstance(key, str) and key.startswith("_")):
                continue  # exc_info is rendered (and then scrubbed) by format_exc_info; _keys are structlog's
            if _is_secret_key(key):
                event_dict[key] = MASK
            elif type(value) is str:
                # Letters and digits only (IDs, names) cannot hold a URL, key=value or bearer secret.
                if not value.isalnum() and _SUSPECT.search(value) is not None:
                    event_dict[key] = redact_text(value)
            elif not isinstance(value, int | float | bool) and value is not None:
                event_dict[key] = _redact(value)
        return event_dict


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
