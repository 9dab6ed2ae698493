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
import os
import re
from collections.abc import Iterator, Mapping, MutableMapping
from contextvars import ContextVar, Token
from typing import Any, Final

from opentelemetry import context, propagate

__all__ = [
    "BAGGAGE_KEY",
    "HEADER",
    "SPAN_ATTRIBUTE",
    "bind",
    "bound",
    "extract",
    "get_correlation_id",
    "header_text",
    "inject",
    "is_valid",
    "new_correlation_id",
    "restored",
    "unbind",
]

HEADER: Final = "x-correlation-id"
BAGGAGE_KEY: Final = "correlation_id"
SPAN_ATTRIBUTE: Final = "app.correlation_id"
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
