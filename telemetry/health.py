"""Health checks: a registry of named checks plus a FastAPI router.

Usage::

    from telemetry.health import HealthRegistry, health_router, sqlalchemy_check

    health = HealthRegistry(timeout=2.0)
    health.add("database", sqlalchemy_check(engine))            # critical by default
    health.add("s3", s3_check(s3_client, "invoices"), critical=False)

    @health.check("payments-api", timeout=1.0)
    async def payments_up() -> bool:
        return (await http.get("https://payments/ping")).status_code == 200

    app.include_router(health_router(health))   # /health/live, /health/ready, /health/detailed

Checks run concurrently, each under its own timeout; a hung check counts as ``timeout``. A
check fails by raising or by returning ``False``. Every run is counted in
``resilience_health_checks_total{check, outcome}`` and timed in
``resilience_health_check_duration_seconds``. Answers carry exception *types* only, never
messages, which may hold connection strings or tokens. Fallbacks and degraded mode are in
:mod:`telemetry.fallback`.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from telemetry.events.health import HealthCheckFailed, HealthCheckPassed
from telemetry.labels import error_type
from telemetry.recorder import record

__all__ = [
    "Check",
    "CheckResult",
    "HealthRegistry",
    "HealthReport",
    "amqp_check",
    "health_router",
    "s3_check",
    "sqlalchemy_check",
]

Check = Callable[[], Awaitable[object]] | Callable[[], object]
HEALTHY: Final = "healthy"
DEGRADED: Final = "degraded"
UNHEALTHY: Final = "unhealthy"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's run. ``error_type`` is the exception class name, never its message."""

    name: str
    outcome: str  # success | failure | timeout
    critical: bool
    duration: float
    error_type: str | None = None
    last_error_type: str | None = None

    @property
    def healthy(self) -> bool:
        return self.outcome == "success"

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "pass" if self.healthy else "fail",
            "outcome": self.outcome,
            "critical": self.critical,
            "duration_s": round(self.duration, 6),
            "error_type": self.error_type,
            "last_error_type": self.last_error_type,
        }


@dataclass(frozen=True, slots=True)
class HealthReport:
    """All checks of one run: ``healthy``, ``degraded`` (only non-critical checks fail) or ``unhealthy``."""

    checks: tuple[CheckResult, ...]

    @property
    def status(self) -> str:
        if all(check.healthy for check in self.checks):
            return HEALTHY
        if any(check.critical and not check.healthy for check in self.checks):
            return UNHEALTHY
        return DEGRADED

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "checks": {check.name: check.as_dict() for check in self.checks}}


@dataclass(frozen=True, slots=True)
class _Registered:
    check: Check
    timeout: float
    critical: bool


class HealthRegistry:
    """Named async checks with per-check timeouts; :meth:`run` runs them concurrently."""

    def __init__(self, *, timeout: float = 2.0) -> None:
        self.timeout = timeout
        self._checks: dict[str, _Registered] = {}
        self._last_error: dict[str, str] = {}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._checks)

    def add(self, name: str, check: Check, *, timeout: float | None = None, critical: bool = True) -> None:
        """Register ``check`` (async, or sync and run in a thread). A name is registered once."""
        if name in self._checks:
            raise ValueError(f"health check {name!r} is already registered")
        if not callable(check):
            raise TypeError(f"health check {name!r} must be callable, got {type(check).__name__}")
        self._checks[name] = _Registered(check, self.timeout if timeout is None else timeout, critical)

    def check(
        self, name: str | None = None, *, timeout: float | None = None, critical: bool = True
    ) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
        """Decorator form of :meth:`add`; the name defaults to the function's."""

        def register(fn: Callable[[], Any]) -> Callable[[], Any]:
            self.add(name or fn.__name__, fn, timeout=timeout, critical=critical)
            return fn

        return register

    async def run(self, *, critical_only: bool = False) -> HealthReport:
        """Run the (critical) checks concurrently and record each result."""
        selected = [(name, entry) for name, entry in self._checks.items() if entry.critical or not critical_only]
        results = await asyncio.gather(*(self._run_one(name, entry) for name, entry in selected))
        return HealthReport(tuple(results))

    async def _run_one(self, name: str, entry: _Registered) -> CheckResult:
        # Each run is its own span with the check's name as a span attribute: the /health
        # requests are not traced, and the health alert's trace search looks for `span.check`.
        from opentelemetry.trace import StatusCode

        from telemetry.messaging import tracer

        with tracer().start_as_current_span("health.check", attributes={"check": name}) as span:
            started = time.perf_counter()
            outcome, caught = await _outcome(entry)
            duration = time.perf_counter() - started
            if outcome == "success":
                record(HealthCheckPassed(check=name, duration=duration))
                kind = None
            else:
                record(
                    HealthCheckFailed(check=name, duration=duration, timed_out=outcome == "timeout", caused_by=caught)
                )
                kind = error_type(caught) if caught is not None else "unhealthy"
                self._last_error[name] = kind
                span.set_status(StatusCode.ERROR, outcome)
        return CheckResult(name, outcome, entry.critical, duration, kind, self._last_error.get(name))


def _retrieve(task: asyncio.Future[Any]) -> None:
    # A timed-out check may still finish later; fetch its outcome so asyncio does not warn.
    if not task.cancelled():
        task.exception()


async def _outcome(entry: _Registered) -> tuple[str, BaseException | None]:
    try:
        if inspect.iscoroutinefunction(entry.check):
            task = asyncio.ensure_future(entry.check())
        else:
            task = asyncio.ensure_future(asyncio.to_thread(entry.check))
        done, _ = await asyncio.wait({task}, timeout=entry.timeout)
        if not done:
            task.cancel()
            task.add_done_callback(_retrieve)
            return "timeout", TimeoutError()
        answer = task.result()
    except Exception as exc:
        return "failure", exc
    return ("failure", None) if answer is False else ("success", None)


def health_router(registry: HealthRegistry, *, prefix: str = "/health") -> Any:
    """A FastAPI router: ``/live`` (process up), ``/ready`` (critical checks pass, else 503),
    ``/detailed`` (every check; 503 when unhealthy)."""
    try:
        from fastapi import APIRouter
        from fastapi.responses import JSONResponse
    except ImportError as exc:
        msg = "the health router needs FastAPI: pip install 'resilience-telemetry[fastapi]'"
        raise ImportError(msg) from exc

    router = APIRouter(prefix=prefix, tags=["health"])

    @router.get("/live")
    async def live() -> dict[str, str]:
        return {"status": "alive"}

    @router.get("/ready")
    async def ready() -> JSONResponse:
        report = await registry.run(critical_only=True)
        ok = report.status != UNHEALTHY
        body = {
            "status": "ready" if ok else "not_ready",
            "checks": {check.name: "pass" if check.healthy else "fail" for check in report.checks},
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    @router.get("/detailed")
    async def detailed() -> JSONResponse:
        report = await registry.run()
        return JSONResponse(report.as_dict(), status_code=503 if report.status == UNHEALTHY else 200)

    return router


# --- ready-made checks ------------------------------------------------------------------------
def sqlalchemy_check(engine: Any) -> Check:
    """``SELECT 1`` on a SQLAlchemy ``AsyncEngine`` (awaited) or ``Engine`` (in a thread)."""

    async def database() -> None:
        from sqlalchemy import text

        if hasattr(engine, "sync_engine"):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            return

        def ping() -> None:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))

        await asyncio.to_thread(ping)

    return database


def s3_check(client: Any, bucket: str) -> Check:
    """``HeadBucket`` through a boto3 S3 client (in a thread: boto3 blocks)."""

    async def s3() -> None:
        await asyncio.to_thread(client.head_bucket, Bucket=bucket)

    return s3


def amqp_check(connection: Any) -> Check:
    """An aio-pika (robust) connection is open."""

    async def broker() -> bool:
        return not connection.is_closed

    return broker
