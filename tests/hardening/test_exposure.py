"""``/metrics`` is not for the public: a separate loopback port, or a token / allow-list."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

import telemetry
import telemetry.state
from telemetry.events import RetryScheduled
from telemetry.exposition import AccessPolicy, MetricsServer, serve_metrics
from telemetry.integrations.fastapi import instrument_app
from telemetry.testing import in_memory_tracer

TOKEN = "s3cr3t-scrape-token"


@pytest.fixture
def registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    provider, _ = in_memory_tracer()
    telemetry.setup(registry=registry, tracer_provider=provider)
    telemetry.record(RetryScheduled(retry_name="db", attempt=1, delay=0.1))
    return registry


@pytest.fixture
def server(registry: CollectorRegistry) -> Iterator[MetricsServer]:
    running = serve_metrics(0, token=TOKEN)
    yield running
    running.close()


def test_serve_metrics_on_loopback_port_with_token(server: MetricsServer) -> None:
    """The separate listener binds 127.0.0.1, serves the set-up registry to the token holder only,
    and answers nothing but /metrics."""
    assert server.address == "127.0.0.1"
    base = f"http://127.0.0.1:{server.port}"
    ok = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200
    assert 'resilience_retry_scheduled_total{error_type="",retry_name="db"} 1.0' in ok.text
    assert [
        (r.status_code, r.headers.get("www-authenticate"))
        for r in (
            httpx.get(f"{base}/metrics"),
            httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}x"}),
            httpx.get(f"{base}/metrics", headers={"Authorization": f"Basic {TOKEN}"}),
        )
    ] == [(401, 'Bearer realm="metrics"')] * 3
    assert httpx.get(f"{base}/other", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
    assert TOKEN not in httpx.get(f"{base}/metrics").text


def test_serve_metrics_close_frees_the_port(registry: CollectorRegistry) -> None:
    """close() stops the listener; a second close() is harmless."""
    running = serve_metrics(0)
    port = running.port
    assert httpx.get(f"http://127.0.0.1:{port}/metrics").status_code == 200
    running.close()
    running.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1)


def make_app(**options: Any) -> FastAPI:
    app = FastAPI()
    provider, _ = in_memory_tracer()
    instrument_app(app, telemetry=telemetry.setup(registry=CollectorRegistry(), tracer_provider=provider), **options)
    return app


async def scrape(app: FastAPI, client_ip: str, headers: dict[str, str] | None = None) -> int:
    transport = httpx.ASGITransport(app=app, client=(client_ip, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return (await client.get("/metrics", headers=headers)).status_code


async def test_instrument_app_metrics_token_and_allow_list() -> None:
    """metrics_token and metrics_allow: the right token from an allowed network reads, wrong
    network gets 403 whatever the token, missing or wrong token gets 401."""
    app = make_app(metrics_token=TOKEN, metrics_allow=["10.0.0.0/8", "::1"])
    good = {"Authorization": f"Bearer {TOKEN}"}
    assert [
        await scrape(app, "10.1.2.3", good),
        await scrape(app, "::1", good),
        await scrape(app, "192.168.1.5", good),
        await scrape(app, "10.1.2.3"),
        await scrape(app, "10.1.2.3", {"Authorization": "Bearer nope"}),
        await scrape(app, "not-an-ip", good),
    ] == [200, 200, 403, 401, 401, 403]


async def test_health_details_protected_like_metrics() -> None:
    """protected_paths puts /health/detailed behind the same token; liveness stays open for probes."""
    from telemetry.health import HealthRegistry, health_router

    app = make_app(metrics_token=TOKEN, protected_paths=["/health/detailed"])
    health = HealthRegistry()
    health.add("db", lambda: True)
    app.include_router(health_router(health))
    transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        statuses = [
            (await client.get("/health/detailed")).status_code,
            (await client.get("/health/detailed", headers={"Authorization": f"Bearer {TOKEN}"})).status_code,
            (await client.get("/health/live")).status_code,
        ]
    assert statuses == [401, 200, 200]


async def test_allow_list_alone_and_metrics_path_none() -> None:
    """An allow-list alone needs no token; metrics_path=None removes the route (use serve_metrics)."""
    allow_only = make_app(metrics_allow=["127.0.0.1"])
    assert [await scrape(allow_only, "127.0.0.1"), await scrape(allow_only, "127.0.0.2")] == [200, 403]
    telemetry.state.reset()
    no_route = make_app(metrics_path=None)
    assert await scrape(no_route, "127.0.0.1") == 404


def test_access_policy_compares_tokens_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The token check goes through hmac.compare_digest for right, wrong and malformed headers alike."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    policy = AccessPolicy(token=TOKEN)
    statuses = [policy.status(header, "1.2.3.4") for header in (f"Bearer {TOKEN}", "Bearer x", "Basic abc", None)]
    assert statuses == [200, 401, 401, 401]
    assert [b for _, b in calls] == [TOKEN.encode()] * 4


def test_access_policy_rejects_configuration_mistakes() -> None:
    """An empty token or a malformed network is a configuration error, raised at start-up."""
    with pytest.raises(ValueError, match="empty metrics token"):
        AccessPolicy(token="")
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 network"):
        AccessPolicy(allow=("10.0.0.0/33",))
    assert AccessPolicy(allow=("10.0.0.0/8",)).status(None, "::ffff:10.9.9.9") == 200
