"""FastAPI: correlation IDs, HTTP server metrics, a uniform error envelope, ``/metrics``.

Usage::

    import telemetry
    app = FastAPI()
    telemetry.instrument(app)              # or: instrument_app(app, telemetry=telemetry.setup())

What it adds, in this order from the outside in: OpenTelemetry's FastAPI instrumentation
(server spans; ``/metrics`` and ``/health`` excluded), then one layer of ours,
:class:`HttpServerMiddleware`, which binds the correlation ID, records
``http_server_request_duration_seconds`` with trace exemplars (not for ``/metrics`` and
``/health``: a scrape is not a request) and turns an unhandled
exception into one structured ERROR log and a ``500 {"error", "correlation_id"}`` answer
with no internals. Validation errors answer 422 and ``HTTPException`` keeps its status, in
the same envelope. Instrumenting the same app
twice changes nothing; :func:`uninstrument_app` takes all of it out again (before the app
serves its first request, as Starlette requires).

:class:`CorrelationIdMiddleware` is pure ASGI, so it works under any ASGI framework and never
hides the contextvar from exception handlers: it reads the ID from a request header, accepts
only what :func:`telemetry.correlation.is_valid` accepts and otherwise generates one, echoes it
in the response, puts it on the server span and, on outgoing calls, in W3C baggage, and
unbinds it when the request ends so nothing bleeds into the next request.
"""

from __future__ import annotations

import functools
import logging
import time
import traceback
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import baggage, trace
from opentelemetry.trace import StatusCode

from telemetry import attributes as attr
from telemetry import catalog
from telemetry.correlation import (
    BAGGAGE_KEY,
    SPAN_ATTRIBUTE,
    bind,
    get_correlation_id,
    header_text,
    is_valid,
    new_correlation_id,
    release_propagator_warnings,
    unbind,
)
from telemetry.exposition import LOOPBACK, PRIVATE_NETWORKS, AccessPolicy
from telemetry.integrations.contract import Instrumented, enabled, require
from telemetry.labels import error_type
from telemetry.logging import current_request
from telemetry.redaction import redact_text

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping

    from telemetry.bootstrap import Telemetry
    from telemetry.metrics import Instruments

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = [
    "DEFAULT_EXCLUDED_URLS",
    "CorrelationIdMiddleware",
    "HttpServerMiddleware",
    "error_body",
    "instrument_app",
    "is_instrumented",
    "redact_query",
    "uninstrument_app",
]

DEFAULT_EXCLUDED_URLS: Final = r"^https?://[^/]+/(metrics|health(/[^/]*)?)/?(\?.*)?$"
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
_APPS: Final = Instrumented("fastapi")
_log = logging.getLogger("telemetry.correlation")


_URL_ATTRIBUTES: Final = ("http.url", "url.full", "http.target", "url.query")


def redact_query(url: str, *, query_only: bool = False) -> str:
    """Mask every query-parameter value (keys stay) and any credentials in the URL.

    Query strings carry tokens, signatures and reset codes too often to guess by name.
    """
    base, sep, query = ("", "?", url) if query_only else url.partition("?")
    if not sep:
        return redact_text(url)
    masked = "&".join(f"{part.partition('=')[0]}=***" if "=" in part else part for part in query.split("&"))
    return f"{redact_text(base)}{sep if base else ''}{masked}"


def _scrub_span_urls(span: Any, scope: Any) -> None:
    """Server-request hook: OpenTelemetry's ASGI middleware puts the raw query on the span."""
    if isinstance(scope, dict) and not scope.get("query_string"):
        return  # nothing to scrub: the common case costs one lookup
    attributes = getattr(span, "attributes", None) or {}
    for key in _URL_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str) and (key == "url.query" or "?" in value):
            span.set_attribute(key, redact_query(value, query_only=key == "url.query"))


def error_body(error: str, **extra: Any) -> dict[str, Any]:
    """The uniform error envelope: ``{"error": ..., "correlation_id": ..., **extra}``."""
    return {"error": error, **extra, "correlation_id": get_correlation_id()}


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    # Unmatched paths (404s) would make one series per URL: they share one value.
    return path if isinstance(path, str) else "_UNMATCHED"


class _CorrelationBaggage:
    """The global propagator, plus the request's correlation ID in W3C baggage on the way out.

    The ID is put into baggage where baggage is read, when an outgoing request or message
    is injected, instead of attaching a baggage context on every incoming request: most
    requests call nothing downstream, and the attach/detach pair cost more than the ID itself.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def inject(self, carrier: Any, context: Any = None, setter: Any = None) -> None:
        # Only inside a request our middleware serves, as when the baggage was attached there.
        value = get_correlation_id() if current_request.get() is not None else None
        if value is not None and baggage.get_baggage(BAGGAGE_KEY, context) is None:
            context = baggage.set_baggage(BAGGAGE_KEY, value, context)
        if setter is None:
            self.inner.inject(carrier, context)
        else:
            self.inner.inject(carrier, context, setter)

    def extract(self, carrier: Any, context: Any = None, getter: Any = None) -> Any:
        if getter is None:
            return self.inner.extract(carrier, context)
        return self.inner.extract(carrier, context, getter)

    @property
    def fields(self) -> Any:
        return self.inner.fields


def _propagate_correlation_baggage() -> None:
    """Wrap the global propagator once (idempotent); a later ``set_global_textmap`` wins."""
    from opentelemetry import propagate

    current = propagate.get_global_textmap()
    if not isinstance(current, _CorrelationBaggage):
        propagate.set_global_textmap(_CorrelationBaggage(current))  # type: ignore[arg-type]


class _Correlation:
    """Reading, choosing and echoing the correlation ID, shared by both middlewares."""

    __slots__ = ("header_names", "response_header", "wanted")

    def __init__(self, header_names: tuple[str, ...]) -> None:
        self.header_names = tuple(name.lower().encode("latin-1") for name in header_names)
        self.response_header = self.header_names[0]
        self.wanted = frozenset(self.header_names)
        _propagate_correlation_baggage()

    def choose(self, scope: Scope) -> str:
        """The first valid incoming ID, or a fresh one: names in the configured order, each
        name's occurrences in request order (a ``dict`` of the headers would keep the last
        duplicate and throw a valid first one away)."""
        wanted = self.wanted
        found: dict[bytes, list[bytes]] = {}
        for key, raw in scope.get("headers") or ():
            if key in wanted:
                found.setdefault(key, []).append(raw)
        if not found:
            return new_correlation_id()
        for name in self.header_names:
            for raw in found.get(name, ()):
                value = header_text(raw)
                if value is not None and is_valid(value):
                    return value
        value = new_correlation_id()
        # Log the new ID only: the offered value is attacker-controlled.
        _log.debug("invalid correlation ID header replaced by %s", value)
        return value

    def echo(self, message: Message, encoded: bytes) -> None:
        """Put the ID on a response start, replacing any the app set itself."""
        name = self.response_header
        headers = message.get("headers") or ()
        if any(key.lower() == name for key, _ in headers):
            headers = [(key, value) for key, value in headers if key.lower() != name]
        message["headers"] = [*headers, (name, encoded)]


class CorrelationIdMiddleware:
    """Pure ASGI middleware binding one correlation ID per HTTP request, for any ASGI app.

    :func:`instrument_app` does not add it: :class:`HttpServerMiddleware` does the same in
    the one layer it adds. Use this one alone under another framework.

    Args:
        app: the wrapped ASGI application.
        header_names: request headers to read, first valid one wins: the names in this order
            (``X-Correlation-ID`` then ``X-Request-ID`` by default), each name's duplicates in
            request order. The first name is echoed in the response.
    """

    def __init__(self, app: ASGIApp, header_names: tuple[str, ...] = ("X-Correlation-ID", "X-Request-ID")) -> None:
        self.app = app
        self._correlation = _Correlation(header_names)
        self.header_names = self._correlation.header_names
        self.response_header = self._correlation.response_header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        correlation = self._correlation
        value = correlation.choose(scope)
        token = bind(value)
        release_propagator_warnings(value)
        request_token = current_request.set((scope, time.perf_counter()))
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute(SPAN_ATTRIBUTE, value)
        encoded = value.encode("ascii")

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                correlation.echo(message, encoded)
            await send(message)

        try:
            await self.app(scope, receive, send_with_header)
        finally:
            current_request.reset(request_token)
            unbind(token)


class HttpServerMiddleware:
    """The one ASGI layer :func:`instrument_app` adds: the correlation ID (as
    :class:`CorrelationIdMiddleware` binds it, when ``header_names`` is given), the
    request-duration histogram and the last-resort handler for unhandled exceptions.

    One layer with one ``send`` wrapper: a second pure-ASGI layer with its own closure cost
    about as much per request as the histogram. ``unobserved``: paths (``/metrics``,
    ``/health/...``) answered but not counted, so a scrape or a probe never moves the HTTP
    SLO's request counts. ``policies``: paths (``/metrics``, ``/health/detailed``) answered
    with a bodiless 401/403 unless their :class:`~telemetry.exposition.AccessPolicy` allows the
    request; the check is one dictionary lookup by path, so other requests pay nothing for it.
    Under several workers the lifespan shutdown also deletes this worker's live-gauge files
    (uvicorn re-raises SIGTERM after it, so ``atexit`` never runs).
    """

    def __init__(
        self,
        app: ASGIApp,
        instruments: Instruments,
        header_names: tuple[str, ...] | None = None,
        unobserved: Callable[[str], bool] | None = None,
        policies: Mapping[str, AccessPolicy] | None = None,
    ) -> None:
        self.app = app
        self.instruments = instruments
        self.unobserved = unobserved
        self.policies = dict(policies or {})
        self._correlation = _Correlation(header_names) if header_names else None
        self._websocket = CorrelationIdMiddleware(app, header_names) if header_names else app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._not_http(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        failure = ""
        response_started = False
        correlation = self._correlation
        token = None
        if correlation is not None:
            value = correlation.choose(scope)
            token = bind(value)
            release_propagator_warnings(value)
            span = trace.get_current_span()
            if span.is_recording():
                span.set_attribute(SPAN_ATTRIBUTE, value)
            encoded = value.encode("ascii")
        request_token = current_request.set((scope, started))

        async def tracking_send(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_started = True
                if correlation is not None:
                    correlation.echo(message, encoded)
            await send(message)

        policy = self.policies.get(scope.get("path", ""))
        inner = self.app if policy is None else functools.partial(self._guarded, policy)
        try:
            await inner(scope, receive, tracking_send)
        except Exception as exc:
            if response_started:
                failure = error_type(exc)  # semconv: the exception, once a status went out
                raise
            self._log_unhandled(scope, exc)
            await self._send_500(tracking_send)
        finally:
            self._observe(scope, status, time.perf_counter() - started, failure)
            current_request.reset(request_token)
            if token is not None:
                unbind(token)

    async def _guarded(self, policy: AccessPolicy, scope: Scope, receive: Receive, send: Send) -> None:
        """A guarded path: served when ``policy`` allows the request, else refused (and counted,
        unless the path is unobserved, as ``/metrics`` is)."""
        refused = _refusal(policy, scope)
        if refused is None:
            await self.app(scope, receive, send)
        else:
            await _refuse(send, refused)

    async def _not_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Lifespan (with the workers' clean-up at shutdown), websockets (correlation only), the rest as is."""
        kind = scope["type"]
        if kind == "lifespan":
            await self.app(scope, receive, _cleanup_on_shutdown(send))
        else:
            await (self._websocket if kind == "websocket" else self.app)(scope, receive, send)

    def _observe(self, scope: Scope, status: int, elapsed: float, failure: str = "") -> None:
        try:
            if not enabled() or (self.unobserved is not None and self.unobserved(scope.get("path", ""))):
                return
            method = scope.get("method", "GET")
            m = self.instruments
            m.observe(
                catalog.HTTP_SERVER_REQUEST_DURATION,
                elapsed,
                method if method in _METHODS else "_OTHER",
                m.admit(catalog.HTTP_SERVER_REQUEST_DURATION.labels[1], _route(scope)),
                str(status),
                "https" if scope.get("scheme") == "https" else "http",
                # semconv: error.type on failures only: the 5xx code sent, or the exception after it
                m.admit(catalog.ERROR_TYPE, failure or (str(status) if status >= 500 else "")),
            )
        except Exception:  # noqa: S110 - a metric must never break the response
            pass

    def _log_unhandled(self, scope: Scope, exc: Exception) -> None:
        try:
            import structlog

            span = trace.get_current_span()
            if span.is_recording():
                # The message and stack may hold credentials (DSNs in driver errors): scrub both.
                stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                span.record_exception(
                    exc,
                    attributes={"exception.message": redact_text(str(exc)), "exception.stacktrace": redact_text(stack)},
                )
                span.set_attribute(attr.ERROR_TYPE, error_type(exc))
                span.set_status(StatusCode.ERROR, error_type(exc))
            structlog.get_logger("telemetry.http").error(
                "telemetry.http.unhandled_exception",
                exc_info=exc,
                **{
                    "http.request.method": scope.get("method"),
                    "http.route": _route(scope),
                    attr.ERROR_TYPE: error_type(exc),
                },
            )
        except Exception:  # noqa: S110 - logging must not turn a 500 into a dropped connection
            pass

    async def _send_500(self, send: Send) -> None:
        import json

        body = json.dumps(error_body("internal_error")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _install_handlers(app: Any) -> None:
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    async def validation_failed(_request: Any, exc: Exception) -> Any:
        errors: list[Any] = getattr(exc, "errors", list)()
        # Drop the offending input: it may hold the very secret the client mistyped.
        detail = [
            {"loc": list(e.get("loc", ())), "msg": redact_text(str(e.get("msg", ""))), "type": e.get("type")}
            for e in errors
            if isinstance(e, dict)
        ]
        return JSONResponse(error_body("validation_error", detail=detail), status_code=422)

    async def http_error(_request: Any, exc: Exception) -> Any:
        status = getattr(exc, "status_code", 500)
        detail = getattr(exc, "detail", None)
        return JSONResponse(
            error_body(detail if isinstance(detail, str) else "http_error"),
            status_code=status,
            headers=getattr(exc, "headers", None),
        )

    app.add_exception_handler(RequestValidationError, validation_failed)
    app.add_exception_handler(HTTPException, http_error)


def _cleanup_on_shutdown(send: Send) -> Send:
    """Wrap the lifespan ``send``: once shutdown is complete (or failed), this worker's
    multiprocess live files go (see :func:`telemetry.multiprocess.process_exit`)."""

    async def lifespan_send(message: Message) -> None:
        if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            from telemetry.metrics import multiprocess_enabled

            if multiprocess_enabled():
                from telemetry.multiprocess import process_exit

                process_exit()
        await send(message)

    return lifespan_send


def _unobserved(metrics_path: str | None, excluded_urls: str) -> Callable[[str], bool]:
    """The paths not counted as requests: ``metrics_path`` and what ``excluded_urls`` (the
    span exclusion, full URLs) matches, tested on the path alone."""
    import re

    pattern = re.compile(excluded_urls)

    def unobserved(path: str) -> bool:
        return path == metrics_path or pattern.search(f"http://host{path}") is not None

    return unobserved


def _refusal(policy: AccessPolicy, scope: Scope) -> int | None:
    """The 401/403 status ``policy`` answers this request with, or ``None`` when it allows it."""
    headers = dict(scope.get("headers") or ())
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    client = scope.get("client")
    status = policy.status(authorization, client[0] if client else None)
    return None if status == 200 else status


async def _refuse(send: Send, status: int) -> None:
    """A bodiless 401/403 with the headers the scrape endpoint's own server sends."""
    from telemetry.exposition import denied_headers

    raw = [(b"content-length", b"0"), *((k.lower().encode(), v.encode()) for k, v in denied_headers(status))]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b""})


def _policy(token: str | None, allow: Iterable[str] | None, default: tuple[str, ...]) -> AccessPolicy:
    """A token or an allow-list replaces the default audience; neither keeps it."""
    if allow is None:
        allow = () if token is not None else default
    return AccessPolicy(token=token, allow=tuple(allow))


def _install_metrics_route(app: Any, telemetry: Telemetry, path: str) -> Any:
    from starlette.responses import Response

    from telemetry.exposition import render

    async def metrics(request: Any) -> Any:
        from starlette.concurrency import run_in_threadpool

        # Collectors may wait on a database or broker: never on the loop that serves requests.
        body, content_type = await run_in_threadpool(render, telemetry.registry, request.headers.get("accept"))
        return Response(body, media_type=content_type)

    app.add_route(path, metrics, include_in_schema=False)
    return app.router.routes[-1]


def is_instrumented(app: Any) -> bool:
    """Whether :func:`instrument_app` instrumented ``app`` (and it was not undone since)."""
    return app in _APPS


def instrument_app(
    app: Any,
    *,
    telemetry: Telemetry | None = None,
    metrics_path: str | None = "/metrics",
    correlation_headers: tuple[str, ...] = ("X-Correlation-ID", "X-Request-ID"),
    excluded_urls: str = DEFAULT_EXCLUDED_URLS,
    otel_instrumentation: bool = True,
    metrics_token: str | None = None,
    metrics_allow: Iterable[str] | None = None,
    protected_paths: Iterable[str] = (),
    health_path: str | None = "/health/detailed",
    health_token: str | None = None,
    health_allow: Iterable[str] | None = None,
) -> Any:
    """Instrument a FastAPI (or Starlette) app and return it; a second call on the same app is a no-op.

    Call before the app starts serving (Starlette refuses new middleware afterwards).
    ``telemetry`` is the set-up whose registry ``/metrics`` serves and whose instruments the
    HTTP metrics go to (default: :func:`telemetry.setup`'s). ``metrics_token`` (a bearer token)
    and ``metrics_allow`` (client addresses or networks) protect ``metrics_path`` and every
    path in ``protected_paths``; ``metrics_path=None`` removes the route, for use with
    :func:`telemetry.exposition.serve_metrics` on a separate port.

    Secure by default: with neither token nor allow-list, ``/metrics`` answers only loopback
    and private-network clients (:data:`~telemetry.exposition.PRIVATE_NETWORKS`, where an
    in-cluster Prometheus scrapes from), and ``health_path`` (it names dependencies and their
    error types) only loopback clients unless ``health_token``/``health_allow`` say otherwise.
    ``metrics_allow=["0.0.0.0/0", "::/0"]`` opens ``/metrics`` to everyone, deliberately.
    """
    metrics_policy = _policy(metrics_token, metrics_allow, PRIVATE_NETWORKS)
    policies = {path: metrics_policy for path in (metrics_path, *protected_paths) if path}
    if health_path and health_path not in policies:
        policies[health_path] = _policy(health_token, health_allow, LOOPBACK)
    require("fastapi", "fastapi", what="the FastAPI integration")
    if app in _APPS:
        return app
    if telemetry is None:
        from telemetry.bootstrap import setup

        telemetry = setup()
    middleware_before = list(app.user_middleware)
    handlers_before = dict(app.exception_handlers)
    # add_middleware puts the newest outermost; the one layer binds the correlation ID before
    # its error handler runs, so the 500 envelope and its log line carry it.
    app.add_middleware(
        HttpServerMiddleware,
        instruments=telemetry.instruments,
        header_names=correlation_headers,
        unobserved=_unobserved(metrics_path, excluded_urls),
        policies=policies,
    )
    ours = [item for item in app.user_middleware if item not in middleware_before]
    _install_handlers(app)
    route = _install_metrics_route(app, telemetry, metrics_path) if metrics_path else None
    if otel_instrumentation:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.metrics import NoOpMeterProvider

        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=telemetry.tracer_provider,
            # HTTP metrics come from our middleware (exemplars, catalog names): no second copy.
            meter_provider=NoOpMeterProvider(),
            excluded_urls=excluded_urls,
            # One server span per request; ASGI receive/send sub-spans are noise at 3 a.m.
            exclude_spans=["receive", "send"],
            server_request_hook=_scrub_span_urls,
        )

    def undo() -> None:
        if otel_instrumentation:
            from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

            FastAPIInstrumentor.uninstrument_app(app)
        app.user_middleware[:] = [item for item in app.user_middleware if item not in ours]
        app.exception_handlers.clear()
        app.exception_handlers.update(handlers_before)
        if route is not None and route in app.router.routes:
            app.router.routes.remove(route)
        app.middleware_stack = None

    _APPS.add(app, undo)
    return app


def uninstrument_app(app: Any) -> Any:
    """Take out what :func:`instrument_app` added and return ``app``; idempotent.

    Like adding middleware, this must happen before the app serves its first request.
    """
    _APPS.remove(app)
    return app
