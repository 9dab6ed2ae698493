"""Correlation IDs: one ID per request that follows it through DB, outbox, broker and DLQ.

The ID lives in a contextvar. :class:`CorrelationIdMiddleware` (pure ASGI, so it works under
any ASGI framework and never hides the contextvar from exception handlers) reads it from a
request header, accepts only ``^[A-Za-z0-9._:-]{1,128}$`` and otherwise generates one, echoes
it in the response, puts it on the server span and in W3C baggage, and resets the contextvar
when the request ends so nothing bleeds into the next request.

For messages, :func:`inject` writes ``traceparent``/``tracestate`` and the ID into a header
mapping (outgoing message or outbox row) and :func:`extract` / :func:`restored` read them
back on the consumer side, validating everything they read.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Iterator, Mapping, MutableMapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import baggage, context, propagate, trace

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = [
    "BAGGAGE_KEY",
    "HEADER",
    "SPAN_ATTRIBUTE",
    "CorrelationIdMiddleware",
    "bound",
    "extract",
    "get_correlation_id",
    "inject",
    "is_valid",
    "new_correlation_id",
    "restored",
]

HEADER: Final = "x-correlation-id"
BAGGAGE_KEY: Final = "correlation_id"
SPAN_ATTRIBUTE: Final = "app.correlation_id"
_VALID: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_log = logging.getLogger("telemetry.correlation")

_correlation_id: ContextVar[str | None] = ContextVar("telemetry_correlation_id", default=None)


def get_correlation_id() -> str | None:
    """The current correlation ID, or ``None`` outside a request or message."""
    return _correlation_id.get()


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def is_valid(value: object) -> bool:
    """Only short, plain IDs are accepted: no whitespace, no CR/LF, no markup."""
    return isinstance(value, str) and _VALID.fullmatch(value) is not None


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


def _as_text(value: object) -> str | None:
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("ascii")
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None


class _HeaderGetter:
    """A propagator getter over a message-header mapping that tolerates any value type."""

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = _as_text(carrier.get(key))
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
    value = _as_text(headers.get(HEADER)) if HEADER in headers else None
    return ctx, value if is_valid(value) else None


@contextlib.contextmanager
def restored(headers: Mapping[str, Any] | None, fallback: str | None = None) -> Iterator[str]:
    """On the consumer side: bind the message's correlation ID (or ``fallback``, or a fresh
    one) for the ``with`` block. The trace context is returned by :func:`extract` for links;
    this does not make the producer's span the parent."""
    _, value = extract(headers)
    with bound(value or fallback) as bound_value:
        yield bound_value


class CorrelationIdMiddleware:
    """Pure ASGI middleware binding one correlation ID per HTTP request.

    Args:
        app: the wrapped ASGI application.
        header_names: request headers to read, first valid one wins (``X-Correlation-ID``
            then ``X-Request-ID`` by default). The first name is echoed in the response.
    """

    def __init__(self, app: ASGIApp, header_names: tuple[str, ...] = ("X-Correlation-ID", "X-Request-ID")) -> None:
        self.app = app
        self.header_names = tuple(name.lower().encode("latin-1") for name in header_names)
        self.response_header = self.header_names[0]

    def _incoming(self, scope: Scope) -> tuple[str | None, bool]:
        """The accepted incoming ID, and whether an invalid one was offered."""
        offered = False
        headers = dict(scope.get("headers") or ())
        for name in self.header_names:
            raw = headers.get(name)
            if raw is None:
                continue
            offered = True
            value = _as_text(raw)
            if is_valid(value):
                return value, False
        return None, offered

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming, replaced = self._incoming(scope)
        value = incoming or new_correlation_id()
        if replaced:
            # Log the new ID only: the offered value is attacker-controlled.
            _log.debug("invalid correlation ID header replaced by %s", value)
        token = _correlation_id.set(value)
        ctx_token = context.attach(baggage.set_baggage(BAGGAGE_KEY, value))
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute(SPAN_ATTRIBUTE, value)
        encoded = value.encode("ascii")

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != self.response_header]
                headers.append((self.response_header, encoded))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_header)
        finally:
            context.detach(ctx_token)
            _correlation_id.reset(token)
