"""slowapi (the FastAPI/Starlette rate limiter, built on ``limits``): decisions, storage
failures, the in-memory fallback, and rejections answered in the package's error envelope.

Usage::

    from slowapi import Limiter
    from slowapi.util import get_remote_address
    from telemetry.integrations.slowapi import instrument_limiter

    limiter = Limiter(key_func=get_remote_address, storage_uri="redis://redis:6379",
                      in_memory_fallback_enabled=True)
    app.state.limiter = limiter
    instrument_limiter(limiter, app=app)    # before the app starts serving

    @app.get("/quotes")
    @limiter.limit("20/minute")
    async def quotes(request: Request) -> dict[str, str]: ...

Every check slowapi makes is reported through :func:`telemetry.rate_limiter` (``slowapi`` by
default): ``admitted`` and ``rejected`` by route template, never by client key; errors of the
limiter's storage by ``error.type``; the switch to the in-memory fallback when the storage
(Redis) is down, and back when slowapi finds it again. With ``app``, a rejection answers
``429 {"error": "rate_limited", "detail": "20 per 1 minute", "retry_after": 12,
"correlation_id": ...}`` with a ``Retry-After`` header (seconds), like every other error of
the package. slowapi has no hooks, so the integration wraps two attributes of the one limiter
it is given (its request check and its storage strategy); :func:`uninstrument_limiter` puts
both back, and the app's previous handler for ``RateLimitExceeded``. slowapi's own warning for a
rejection names the client key, so it is filtered out while the limiter is instrumented (the
structured ``telemetry.ratelimit.rejected`` line replaces it).

A request checked twice (slowapi's middleware for the default limits, then the route's
decorator) is counted once as admitted; if the second check rejects it, it is counted as
rejected as well.
"""

from __future__ import annotations

import contextvars
import logging
import math
import time
import weakref
from typing import TYPE_CHECKING, Any, Final

from telemetry.integrations.contract import Instrumented, check_telemetry, enabled, require
from telemetry.ratelimit import rate_limiter

if TYPE_CHECKING:
    from collections.abc import Callable

    from telemetry.bootstrap import Telemetry
    from telemetry.ratelimit import RateLimiter

__all__ = ["instrument_limiter", "is_instrumented", "rate_limit_exceeded_handler", "uninstrument_limiter"]

_INSTRUMENTED: Final = Instrumented("slowapi")
_COUNTED: Final = "_telemetry_ratelimit_admitted"
_RETRY_AFTER: Final = "_telemetry_ratelimit_retry_after"
_inside: contextvars.ContextVar[bool] = contextvars.ContextVar("telemetry_slowapi_inside", default=False)


def _limit_name(request: Any, endpoint: Callable[..., Any] | None) -> str:
    """The route template of the request (bounded), never the URL or the client key."""
    route = request.scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(path, str):
        return path
    for candidate in getattr(request.scope.get("app"), "routes", ()):
        if endpoint is not None and getattr(candidate, "endpoint", None) is endpoint:
            found = getattr(candidate, "path_format", None) or getattr(candidate, "path", None)
            if isinstance(found, str):
                return found
    return "_UNMATCHED"


def _retry_after(limiter: Any, request: Any, exc: Any) -> int:
    """Whole seconds until the exceeded window resets (at least 1)."""
    current = getattr(request.state, "view_rate_limit", None)
    item = getattr(getattr(exc, "limit", None), "limit", None)
    try:
        if current is not None:
            reset_at = float(limiter.limiter.get_window_stats(current[0], *current[1])[0])
            return max(1, math.ceil(reset_at - time.time()))
    except Exception:  # noqa: S110 - storage down: fall back to the window's length below
        pass
    try:
        return max(1, int(getattr(item, "get_expiry", lambda: 1)()))
    except Exception:
        return 1


class _StorageWatch:
    """Stands in for the limiter's ``limits`` strategy: every call that raises is reported as
    a storage failure and re-raised, so slowapi's own handling (fallback, swallow) is unchanged."""

    __slots__ = ("inner", "last_error", "reporter")

    def __init__(self, inner: Any, reporter: RateLimiter) -> None:
        self.inner = inner
        self.reporter = reporter
        self.last_error: BaseException | None = None

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.inner, name)
        if not callable(found):
            return found

        def watched(*args: Any, **kwargs: Any) -> Any:
            try:
                return found(*args, **kwargs)
            except Exception as exc:
                self.last_error = exc
                if enabled():
                    self.reporter.storage_failed(exc)
                raise

        return watched


class _QuietRejections(logging.Filter):
    """Drops slowapi's own "ratelimit ... (<client key>) exceeded" warning: it puts the client
    key (an address, a user ID, an API key) in a log line, and our structured line replaces it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith("ratelimit %s (%s) exceeded"))


_QUIET: Final = _QuietRejections()
#: the limiters relying on the filter; it is removed when the last one is uninstrumented
_quiet_users: weakref.WeakSet[Any] = weakref.WeakSet()


class _Hooks:
    """What :func:`instrument_limiter` puts on one limiter, and how to take it off."""

    __slots__ = ("app", "exceeded", "limiter", "original", "previous_handler", "reporter", "watch")

    def __init__(self, limiter: Any, reporter: RateLimiter, app: Any, exceeded: type[Exception]) -> None:
        self.limiter = limiter
        self.reporter = reporter
        self.app = app
        self.exceeded = exceeded
        self.original = limiter._check_request_limit
        self.watch = _StorageWatch(limiter._limiter, reporter)
        self.previous_handler = app.exception_handlers.get(exceeded) if app is not None else None

    def install(self) -> None:
        self.limiter._check_request_limit = self.check_request_limit
        self.limiter._limiter = self.watch
        _quiet_users.add(self.limiter)
        self.limiter.logger.addFilter(_QUIET)  # a no-op when already there
        if self.app is not None:
            self.app.add_exception_handler(self.exceeded, rate_limit_exceeded_handler)

    def undo(self) -> None:
        self.limiter.__dict__.pop("_check_request_limit", None)
        _quiet_users.discard(self.limiter)
        if not _quiet_users:
            self.limiter.logger.removeFilter(_QUIET)
        if self.limiter._limiter is self.watch:
            self.limiter._limiter = self.watch.inner
        if self.app is not None:
            if self.previous_handler is None:
                self.app.exception_handlers.pop(self.exceeded, None)
            else:
                self.app.exception_handlers[self.exceeded] = self.previous_handler

    def check_request_limit(self, request: Any, endpoint_func: Any, in_middleware: bool = True) -> None:
        # slowapi calls itself again after switching to the fallback: report the outer call only.
        if _inside.get() or not enabled():
            self.original(request, endpoint_func, in_middleware)
            return
        was_dead = bool(self.limiter._storage_dead)
        token = _inside.set(True)
        try:
            self.original(request, endpoint_func, in_middleware)
        except self.exceeded as exc:
            self.storage_changed(was_dead)
            self.rejected(request, endpoint_func, exc)
            raise
        except Exception:
            self.storage_changed(was_dead)
            raise
        else:
            self.storage_changed(was_dead)
            state = request.state
            if getattr(state, "view_rate_limit", None) is not None and not getattr(state, _COUNTED, False):
                setattr(state, _COUNTED, True)
                self.reporter.admitted(_limit_name(request, endpoint_func))
        finally:
            _inside.reset(token)

    def rejected(self, request: Any, endpoint_func: Any, exc: Any) -> None:
        retry_after = _retry_after(self.limiter, request, exc)
        setattr(request.state, _RETRY_AFTER, retry_after)
        rule = str(getattr(exc.limit, "limit", exc.detail))
        self.reporter.rejected(_limit_name(request, endpoint_func), rule=rule, retry_after=retry_after)

    def storage_changed(self, was_dead: bool) -> None:
        dead = bool(self.limiter._storage_dead)
        if dead and not was_dead:
            self.reporter.fallback_entered(self.watch.last_error)
        elif was_dead and not dead:
            self.reporter.fallback_exited()


def instrument_limiter(
    limiter: Any, *, app: Any = None, name: str = "slowapi", telemetry: Telemetry | None = None
) -> Any:
    """Report every check of a slowapi ``Limiter``; with ``app``, answer rejections in the
    error envelope with ``Retry-After``. Returns ``limiter``; a second call is a no-op.

    ``name`` is the ``ratelimit_limiter`` label. ``telemetry`` must be the current set-up when
    given: events go through the process recorder.
    """
    require("slowapi", "slowapi")
    from slowapi.errors import RateLimitExceeded

    check_telemetry(telemetry)
    if limiter in _INSTRUMENTED:
        return limiter
    hooks = _Hooks(limiter, rate_limiter(name), app, RateLimitExceeded)
    hooks.install()
    _INSTRUMENTED.add(limiter, hooks.undo)
    return limiter


def uninstrument_limiter(limiter: Any) -> Any:
    """Undo :func:`instrument_limiter` on ``limiter`` and return it (idempotent)."""
    _INSTRUMENTED.remove(limiter)
    return limiter


def is_instrumented(limiter: Any) -> bool:
    """Whether :func:`instrument_limiter` is in effect on ``limiter``."""
    return limiter in _INSTRUMENTED


def rate_limit_exceeded_handler(request: Any, exc: Any) -> Any:
    """The 429 answer in the package's error envelope, with ``Retry-After`` in seconds.

    Register it yourself (``app.add_exception_handler(RateLimitExceeded, ...)``) when you do
    not pass ``app`` to :func:`instrument_limiter`. slowapi's ``X-RateLimit-*`` headers are
    added when the limiter has ``headers_enabled``.
    """
    from starlette.responses import JSONResponse

    from telemetry.integrations.fastapi import error_body

    limiter = getattr(getattr(request.scope.get("app"), "state", None), "limiter", None)
    retry_after = getattr(request.state, _RETRY_AFTER, None)
    if retry_after is None:
        retry_after = _retry_after(limiter, request, exc) if limiter is not None else 1
    detail = exc.detail if isinstance(getattr(exc, "detail", None), str) else "rate limit exceeded"
    response = JSONResponse(
        error_body("rate_limited", detail=detail, retry_after=retry_after),
        status_code=429,
        headers={"Retry-After": str(retry_after)},
    )
    current = getattr(request.state, "view_rate_limit", None)
    if limiter is not None and getattr(limiter, "_headers_enabled", False) and current is not None:
        response = limiter._inject_headers(response, current)
        response.headers["Retry-After"] = str(retry_after)  # seconds, whatever slowapi's setting
    return response
