"""slowapi with Redis storage on the real Redis: decisions by route, the 429 in the package's
error envelope with Retry-After, the in-memory fallback when Redis is cut (through a loopback
proxy) and the way back; the contract points are in tests/integrations/test_contract.py."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry

import telemetry
from telemetry.integrations.fastapi import instrument_app
from telemetry.integrations.slowapi import instrument_limiter, uninstrument_limiter
from tests.conftest import port_open, require
from tests.integrations.slowapi_support import ThreadedProxy

pytest.importorskip("slowapi")
DECISIONS = "resilience_ratelimit_decisions_total"


def build(limiter: Any, registry: CollectorRegistry) -> Any:
    app = FastAPI()
    app.state.limiter = limiter

    @app.get("/quotes/{symbol}")
    @limiter.limit("2/minute")
    async def quotes(request: Request, symbol: str) -> dict[str, str]:
        return {"symbol": symbol}

    @app.get("/free")
    async def free() -> dict[str, str]:
        return {"ok": "yes"}

    instrument_app(app, telemetry=telemetry.setup(registry=registry), otel_instrumentation=False)
    return app


def decisions(registry: CollectorRegistry, limit: str = "/quotes/{symbol}") -> dict[str, float | None]:
    return {
        outcome: registry.get_sample_value(
            DECISIONS, {"ratelimit_limiter": "slowapi", "ratelimit_limit": limit, "outcome": outcome}
        )
        for outcome in ("admitted", "rejected")
    }


@pytest.fixture
def redis_keys() -> Iterator[str]:
    """A key prefix of our own on the real Redis (other runs share it); its keys are deleted afterwards."""
    require(port_open("127.0.0.1", 6379), "Redis on 127.0.0.1:6379")
    uid = f"h6_{uuid.uuid4().hex[:10]}"
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379)
    try:
        yield uid
    finally:
        for key in client.scan_iter(f"{uid}*"):
            client.delete(key)
        client.close()


@pytest.fixture
def proxy() -> Iterator[ThreadedProxy]:
    require(port_open("127.0.0.1", 6379), "Redis on 127.0.0.1:6379")
    found = ThreadedProxy(("127.0.0.1", 6379))
    found.restore()
    try:
        yield found
    finally:
        found.close()


async def client_for(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def fast_failing_redis() -> dict[str, Any]:
    """redis-py retries a refused connection with backoff by default; a rate limiter on the
    request path must fail fast and fall back."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return {"socket_connect_timeout": 1, "socket_timeout": 1, "retry": Retry(NoBackoff(), 0)}


async def test_redis_storage_admits_then_rejects_with_envelope_and_retry_after(
    redis_keys: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Two requests pass the 2/minute limit in Redis, the third answers 429 in the error
    envelope with Retry-After in seconds; metrics count by route template, never by client,
    and the rejection is one INFO line (slowapi's own warning, which names the client key, is
    filtered)."""
    from slowapi import Limiter
    from slowapi.util import get_remote_address

    registry = CollectorRegistry()
    limiter = Limiter(key_func=get_remote_address, storage_uri="redis://127.0.0.1:6379/0", key_prefix=redis_keys)
    app = build(limiter, registry)
    instrument_limiter(limiter, app=app)
    assert decisions(registry) == {"admitted": None, "rejected": None}
    with structlog.testing.capture_logs() as logs:
        async for client in client_for(app):
            assert [(await client.get("/quotes/EUR")).status_code for _ in range(2)] == [200, 200]
            refused = await client.get("/quotes/EUR", headers={"X-Correlation-ID": "c-429"})
            assert (await client.get("/free")).status_code == 200
    assert refused.status_code == 429
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert refused.json() == {
        "error": "rate_limited",
        "detail": "2 per 1 minute",
        "retry_after": retry_after,
        "correlation_id": "c-429",
    }
    assert decisions(registry) == {"admitted": 2.0, "rejected": 1.0}
    assert [line for line in logs if line["event"].startswith("telemetry.ratelimit")] == [
        {
            "event": "telemetry.ratelimit.rejected",
            "log_level": "info",
            "ratelimit.limiter": "slowapi",
            "ratelimit.limit": "/quotes/{symbol}",
            "ratelimit.rule": "2 per 1 minute",
            "ratelimit.retry_after_s": retry_after,
        }
    ]
    exposition = "\n".join(
        f"{s.name}{s.labels}" for m in registry.collect() for s in m.samples if "ratelimit" in s.name
    )
    assert "127.0.0.1" not in exposition
    assert [r.getMessage() for r in caplog.records if r.name == "slowapi"] == []
    assert "/quotes/EUR" not in exposition  # the template, not the URL


async def test_redis_cut_falls_back_to_memory_and_comes_back(redis_keys: str, proxy: ThreadedProxy) -> None:
    """Seed 003's case: Redis goes away, the limiter falls back to per-process counters (one
    switch recorded, the storage error typed, the flag at 1), requests are still limited;
    Redis returns and slowapi's next backend check takes the limiter back (flag 0)."""
    from slowapi import Limiter
    from slowapi.util import get_remote_address

    registry = CollectorRegistry()
    limiter = Limiter(
        key_func=get_remote_address,
        storage_uri=f"redis://127.0.0.1:{proxy.port}/0",
        storage_options=fast_failing_redis(),
        key_prefix=redis_keys,
        in_memory_fallback_enabled=True,
    )
    app = build(limiter, registry)
    instrument_limiter(limiter, app=app)

    def flag() -> float | None:
        return registry.get_sample_value("resilience_ratelimit_fallback_active", {"ratelimit_limiter": "slowapi"})

    with structlog.testing.capture_logs() as logs:
        async for client in client_for(app):
            assert (await client.get("/quotes/EUR")).status_code == 200
            assert flag() == 0.0
            proxy.cut()
            assert [(await client.get("/quotes/EUR")).status_code for _ in range(3)] == [200, 200, 429]
            assert flag() == 1.0
            proxy.restore()
            deadline = time.monotonic() + 20
            while flag() != 0.0 and time.monotonic() < deadline:
                time.sleep(0.2)
                await client.get("/free")
                await client.get("/quotes/GBP")
    assert flag() == 0.0
    assert (
        registry.get_sample_value("resilience_ratelimit_fallback_activations_total", {"ratelimit_limiter": "slowapi"})
        == 1.0
    )
    errors = {
        s.labels["error_type"]: s.value
        for m in registry.collect()
        for s in m.samples
        if s.name == "resilience_ratelimit_storage_errors_total"
    }
    assert list(errors) == ["ConnectionError"]
    events = [line["event"] for line in logs if line["event"].startswith("telemetry.ratelimit")]
    assert events[:3] == [
        "telemetry.ratelimit.storage_failed",
        "telemetry.ratelimit.fallback_entered",
        "telemetry.ratelimit.rejected",
    ]
    assert events.count("telemetry.ratelimit.fallback_entered") == 1
    assert events.count("telemetry.ratelimit.fallback_exited") == 1


async def memory_app() -> tuple[Any, Any, CollectorRegistry]:
    from slowapi import Limiter
    from slowapi.util import get_remote_address

    registry = CollectorRegistry()
    limiter = Limiter(key_func=get_remote_address, storage_uri="memory://")
    return limiter, build(limiter, registry), registry


async def test_uninstrument_restores_slowapi_and_the_apps_handler() -> None:
    """Beyond the contract table (tests/integrations/test_contract.py): uninstrument puts back
    slowapi's strategy, its request check, the app's handler and the log filter."""
    from slowapi.errors import RateLimitExceeded

    limiter, app, registry = await memory_app()
    strategy = limiter._limiter
    filters = list(limiter.logger.filters)
    instrument_limiter(limiter, app=app)
    uninstrument_limiter(limiter)
    uninstrument_limiter(limiter)
    assert limiter._limiter is strategy
    assert "_check_request_limit" not in vars(limiter)
    assert RateLimitExceeded not in app.exception_handlers
    assert limiter.logger.filters == filters
    async for client in client_for(app):
        await client.get("/quotes/EUR")
    assert decisions(registry) == {"admitted": None, "rejected": None}


def test_missing_slowapi_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without slowapi installed the integration says which extra to install."""
    import sys

    monkeypatch.setitem(sys.modules, "slowapi", None)
    with pytest.raises(ImportError, match=r"pip install 'resilience-telemetry\[slowapi\]'"):
        instrument_limiter(object())
