"""Correlation IDs: one ID per request that follows it through DB, outbox, broker and DLQ.

The ID lives in a contextvar, bound for a block with :func:`bound`; only
``^[A-Za-z0-9._:-]{1,128}$`` is accepted, anything else is replaced by a fresh ID. The ASGI
middleware that binds one per HTTP request is
:class:`telemetry.integrations.fastapi.CorrelationIdMiddleware`.

For messages, :func:`inject` writes ``traceparent``/``tracestate`` and the ID into a header
mapping (outgoing message or outbox row) and :func:`extract` / :func:`restored` read them
back on the consumer side, validating everything they read.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping, MutableMapping
from contextvars import ContextVar, Token
from typing import Any, Final

from opentelemetry import context, propagate

from telemetry import attributes as attr

__all__ = [
    "BAGGAGE_KEY",
    "HEADER",
    "PROPAGATOR_LOGGERS",
    "SPAN_ATTRIBUTE",
    "PropagatorWarningFilter",
    "bind",
    "bound",
    "extract",
    "get_correlation_id",
    "header_text",
    "inject",
    "install_propagator_filter",
    "is_valid",
    "new_correlation_id",
    "release_propagator_warnings",
    "restored",
    "unbind",
]

HEADER: Final = "x-correlation-id"
BAGGAGE_KEY: Final = "correlation_id"
SPAN_ATTRIBUTE: Final = attr.CORRELATION_ID
_VALID: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")

_correlation_id: ContextVar[str | None] = ContextVar("telemetry_correlation_id", default=None)


def get_correlation_id() -> str | None:
    """The current correlation ID, or ``None`` outside a request or message."""
    return _correlation_id.get()


# uuid4()'s version (4) and RFC 4122 variant bits, applied to 128 random bits by hand.
_UUID4_CLEAR: Final = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET: Final = (4 << 76) | (0x8000 << 48)


def new_correlation_id() -> str:
    """A fresh ID with ``uuid.uuid4().hex``'s format (32 hex digits, version 4, RFC 4122 variant)
    from the same ``os.urandom`` bits, without building a ``UUID`` object: that alone was the
    largest cost of the HTTP middleware per request."""
    return f"{int.from_bytes(os.urandom(16), 'big') & _UUID4_CLEAR | _UUID4_SET:032x}"


def is_valid(value: object) -> bool:
    """Only short, plain IDs are accepted: no whitespace, no CR/LF, no markup."""
    return isinstance(value, str) and _VALID.fullmatch(value) is not None


def bind(correlation_id: str) -> Token[str | None]:
    """Bind an already validated ID until :func:`unbind` with the returned token: for ASGI
    middleware, where a ``with`` block costs as much as the rest of the binding."""
    return _correlation_id.set(correlation_id)


def unbind(token: Token[str | None]) -> None:
    """Put back the ID that was bound before :func:`bind` returned ``token``."""
    _correlation_id.reset(token)


@contextlib.contextmanager
def bound(correlation_id: str | None) -> Iterator[str]:
    """Bind a correlation ID (a fresh one if ``None`` or invalid) for the ``with`` block."""
    value = correlation_id if is_valid(correlation_id) else new_correlation_id()
    assert value is not None  # for the type checker: both branches give a str
    token = _correlation_id.set(value)
    try:
        yield value
    finally:
        _correlation_id.reset(token)


def header_text(value: object) -> str | None:
    """A header value as text: ``str`` as is, ASCII ``bytes`` decoded, anything else ``None``."""
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("ascii")
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None


class _HeaderGetter:
    """A propagator getter over a message-header mapping that tolerates any value type."""

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = header_text(carrier.get(key))
        # W3C values are short; an oversized value is garbage, not a trace context.
        if value is None or len(value) > 512:
            return None
        return [value]

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return [key for key in carrier if isinstance(key, str)]


_GETTER: Final = _HeaderGetter()


def inject(headers: MutableMapping[str, Any], correlation_id: str | None = None) -> MutableMapping[str, Any]:
    """Write ``traceparent``/``tracestate`` and the correlation ID into ``headers``.

    Use it on outgoing messages and on outbox rows, inside the business transaction, so the
    relay and the consumer can link back to this trace.
    """
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    headers.update(carrier)
    value = correlation_id if correlation_id is not None else get_correlation_id()
    if is_valid(value):
        headers[HEADER] = value
    return headers


def extract(headers: Mapping[str, Any] | None) -> tuple[context.Context, str | None]:
    """The trace context and the (validated) correlation ID carried by ``headers``.

    Garbage ``traceparent`` values give an empty context; an invalid correlation ID gives
    ``None``. Never raises on bad input.
    """
    if not isinstance(headers, Mapping):
        return context.Context(), None
    try:
        ctx = propagate.extract(headers, getter=_GETTER)  # type: ignore[arg-type]
    except Exception:
        ctx = context.Context()
    value = header_text(headers.get(HEADER)) if HEADER in headers else None
    return ctx, value if is_valid(value) else None


@contextlib.contextmanager
def restored(headers: Mapping[str, Any] | None, fallback: str | None = None) -> Iterator[str]:
    """On the consumer side: bind the message's correlation ID (or ``fallback``, or a fresh
    one) for the ``with`` block. The trace context is returned by :func:`extract` for links;
    this does not make the producer's span the parent."""
    _, value = extract(headers)
    with bound(value or fallback) as bound_value:
        yield bound_value


# --- OpenTelemetry's own warnings about malformed propagation headers ----------------------------
#: The loggers through which OpenTelemetry's propagators report malformed tracestate/baggage.
PROPAGATOR_LOGGERS: Final = ("opentelemetry.trace.span", "opentelemetry.baggage", "opentelemetry.baggage.propagation")
_PREFIX: Final = 32
_TAMED: Final = "_telemetry_tamed"
# Warnings raised before the request's correlation ID is bound (OpenTelemetry's middleware
# extracts the context outside ours); CorrelationIdMiddleware releases them once it is.
_PENDING: ContextVar[list[logging.LogRecord] | None] = ContextVar("telemetry_propagator_pending", default=None)


def _escaped_prefix(args: object) -> str:
    """At most 32 characters of the offending value, escaped (no control bytes, no newlines)."""
    parts = args if isinstance(args, tuple) else (args,)
    text = " ".join(str(part) for part in parts if not isinstance(part, int))
    prefix = text[:_PREFIX].encode("unicode_escape", "backslashreplace").decode("ascii")
    return prefix + ("..." if len(text) > _PREFIX else "")


class PropagatorWarningFilter(logging.Filter):
    """Tames OpenTelemetry's propagator warnings: one crafted header must not mean one log line.

    Each record is rewritten to a fixed message quoting only a short escaped prefix of the
    offending value, carries the request's ``correlation_id`` (attribute and text), and at most
    ``limit`` records pass per ``interval`` seconds; the rest are counted and the count is named
    on the next record that passes.
    """

    def __init__(self, limit: int = 10, interval: float = 60.0) -> None:
        super().__init__()
        self.limit = limit
        self.interval = interval
        self.suppressed = 0
        self._lock = threading.Lock()
        self._window = float("-inf")
        self._passed = 0

    def reset(self) -> None:
        """Start a fresh rate-limit window (tests)."""
        with self._lock:
            self._window, self._passed, self.suppressed = float("-inf"), 0, 0

    def _admitted(self) -> int | None:
        """``None`` when over the rate limit, else the number suppressed since the last one."""
        now = time.monotonic()
        with self._lock:
            if now - self._window >= self.interval:
                self._window, self._passed = now, 0
            if self._passed >= self.limit:
                self.suppressed += 1
                return None
            self._passed += 1
            dropped, self.suppressed = self.suppressed, 0
            return dropped

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _TAMED, False):
            return True
        dropped = self._admitted()
        if dropped is None:
            return False
        prefix = _escaped_prefix(record.args)
        record.msg = "malformed trace propagation header ignored (%s); value starts %s%s"
        record.args = (record.name.rsplit(".", 1)[-1], prefix, f"; {dropped} similar suppressed" if dropped else "")
        setattr(record, _TAMED, True)
        correlation_id = get_correlation_id()
        if correlation_id is None:
            pending = _PENDING.get()
            if pending is None:
                _PENDING.set([record])
            elif len(pending) < self.limit:
                pending.append(record)
            return False  # released with the request's ID by release_propagator_warnings()
        _stamp(record, correlation_id)
        return True


def _stamp(record: logging.LogRecord, correlation_id: str) -> None:
    record.correlation_id = correlation_id
    record.msg = f"{record.msg} [correlation_id=%s]"
    record.args = (*(record.args if isinstance(record.args, tuple) else ()), correlation_id)


def release_propagator_warnings(correlation_id: str) -> None:
    """Emit the propagator warnings held back until the request's correlation ID was known."""
    pending = _PENDING.get()
    if not pending:
        return
    _PENDING.set(None)
    for record in pending:
        _stamp(record, correlation_id)
        logging.getLogger(record.name).handle(record)


_FILTER = PropagatorWarningFilter()


def install_propagator_filter() -> PropagatorWarningFilter:
    """Put the one :class:`PropagatorWarningFilter` on OpenTelemetry's propagator loggers (idempotent)."""
    for name in PROPAGATOR_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    return _FILTER
