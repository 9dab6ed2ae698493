"""Sweep entries for timeouts, rate limiters (slowapi), bulkheads and recovery jobs.

Kept beside ``integrations.py`` and appended to its table, so the secret and cardinality
sweeps cover these sources with the same drivers' shape as every other one.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import ModuleType
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

import telemetry

from .conftest import Harness
from .integrations import TOKEN, Integration, dynamic_exception, secret_error


# --- timeouts -----------------------------------------------------------------------------------
async def timeout_leak(module: ModuleType, h: Harness) -> None:
    @h.app.get("/timed")
    async def timed() -> dict[str, bool]:
        with contextlib.suppress(ConnectionError):
            async with module.timeout("orders.insert", 1.0):
                raise secret_error(ConnectionError)
        with contextlib.suppress(TimeoutError):
            async with module.timeout("orders.insert", 0.001):
                await asyncio.sleep(1)
        return {"ok": True}

    await h.get("/timed")


async def timeout_flood(module: ModuleType, _h: Harness, n: int) -> None:
    for i in range(n):
        budget = module.time_budget(f"op-{i}", 1.0 + i)
        budget.finished(0.1, dynamic_exception(i))
        budget.expired(2.0)


# --- rate limiting (slowapi) --------------------------------------------------------------------
async def slowapi_leak(module: ModuleType, h: Harness) -> None:
    from slowapi import Limiter

    # The client key is an API key here: it must never reach a label, a log line or an answer.
    limiter = Limiter(key_func=lambda: TOKEN, storage_uri="memory://", headers_enabled=True)
    h.app.state.limiter = limiter
    module.instrument_limiter(limiter, app=h.app)

    @h.app.get("/limited")
    @limiter.limit("1/minute")
    async def limited(request: Request) -> JSONResponse:  # headers_enabled wants a Response
        return JSONResponse({"ok": True})

    await h.get("/limited")
    await h.get("/limited")
    telemetry.rate_limiter("slowapi").storage_failed(secret_error(ConnectionError))
    telemetry.rate_limiter("slowapi").fallback_entered(secret_error(ConnectionError))


async def slowapi_flood(_module: ModuleType, _h: Harness, n: int) -> None:
    for i in range(n):
        limiter = telemetry.rate_limiter(f"limiter-{i}")
        limiter.admitted(f"/route/{i}")
        limiter.rejected(f"/route/{i}", rule=f"{i} per 1 minute")
        limiter.storage_failed(dynamic_exception(i))


# --- bulkheads ----------------------------------------------------------------------------------
async def bulkhead_leak(module: ModuleType, h: Harness) -> None:
    @h.app.get("/bulkhead")
    async def guarded() -> dict[str, bool]:
        payments = module.bulkhead("payments", 1)
        with contextlib.suppress(ConnectionError):
            async with payments:
                with contextlib.suppress(module.BulkheadFullError):
                    async with payments:
                        pass
                raise secret_error(ConnectionError)
        return {"ok": True}

    await h.get("/bulkhead")


async def bulkhead_flood(module: ModuleType, _h: Harness, n: int) -> None:
    for i in range(n):
        reporter = module.bulkhead_reporter(f"bulkhead-{i}", i + 1)
        reporter.entered()
        reporter.rejected("queue_timeout", waited=0.1)
        reporter.exited()


# --- recovery jobs ------------------------------------------------------------------------------
async def recovery_leak(module: ModuleType, h: Harness) -> None:
    @h.app.post("/recover")
    async def recover() -> dict[str, bool]:
        job = module.recovery_job("deposits", dependency="blockchain")
        job.dependency_returned()
        with contextlib.suppress(ConnectionError):
            async with job.run() as run:
                run.failed(error=secret_error(ConnectionError))
                raise secret_error(ConnectionError)
        return {"ok": True}

    await h.post("/recover")


async def recovery_flood(module: ModuleType, _h: Harness, n: int) -> None:
    for i in range(n):
        job: Any = module.recovery_job(f"job-{i}")
        job.parked(reason=f"reason-{i}")
        job.run_failed(dynamic_exception(i))


TOOLBOX: list[Integration] = [
    Integration("timeout", "telemetry.timeouts", timeout_leak, timeout_flood),
    Integration("slowapi", "telemetry.integrations.slowapi", slowapi_leak, slowapi_flood),
    Integration("bulkhead", "telemetry.bulkheads", bulkhead_leak, bulkhead_flood),
    Integration("recovery", "telemetry.recovery", recovery_leak, recovery_flood),
]
