"""Secure by default, exactly as the README states it (issue 15, finding 8).

README, "Reliability and security": with ``telemetry.instrument(app)`` and nothing configured,
``/health/detailed`` answers loopback clients only and ``/metrics`` answers loopback and
private-network clients only (where Prometheus scrapes from); a token or an allow-list replaces
the default. ``/health/live`` and ``/health/ready`` stay open for probes.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

import telemetry
from telemetry.health import HealthRegistry, health_router
from telemetry.testing import in_memory_tracer

TOKEN = "s-pc-health-token"
CLIENTS = ["127.0.0.1", "::1", "10.1.2.3", "172.16.0.9", "192.168.1.5", "fd00::7", "203.0.113.9", "2001:db8::1"]


def app_with_health(**options: Any) -> FastAPI:
    app = FastAPI()
    health = HealthRegistry()
    health.add("db", lambda: True)
    app.include_router(health_router(health))
    provider, _ = in_memory_tracer()
    telemetry.instrument(app, registry=CollectorRegistry(), tracer_provider=provider, **options)
    return app


async def statuses(app: FastAPI, path: str, headers: dict[str, str] | None = None) -> dict[str, int]:
    found = {}
    for client in CLIENTS:
        transport = httpx.ASGITransport(app=app, client=(client, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            found[client] = (await http.get(path, headers=headers)).status_code
    return found


async def test_default_exposure_per_endpoint() -> None:
    """Nothing configured: /health/detailed for loopback only, /metrics for loopback and private
    networks, the probes for everyone."""
    app = app_with_health()
    assert await statuses(app, "/health/detailed") == {
        "127.0.0.1": 200, "::1": 200, "10.1.2.3": 403, "172.16.0.9": 403, "192.168.1.5": 403,
        "fd00::7": 403, "203.0.113.9": 403, "2001:db8::1": 403,
    }  # fmt: skip
    assert await statuses(app, "/metrics") == {
        "127.0.0.1": 200, "::1": 200, "10.1.2.3": 200, "172.16.0.9": 200, "192.168.1.5": 200,
        "fd00::7": 200, "203.0.113.9": 403, "2001:db8::1": 403,
    }  # fmt: skip
    assert await statuses(app, "/health/live") == dict.fromkeys(CLIENTS, 200)
    assert await statuses(app, "/health/ready") == dict.fromkeys(CLIENTS, 200)


async def test_a_token_or_allow_list_replaces_the_default() -> None:
    """health_token opens /health/detailed to token holders from anywhere; metrics_allow replaces
    the private-network default."""
    app = app_with_health(health_token=TOKEN, metrics_allow=["203.0.113.0/24"])
    with_token = await statuses(app, "/health/detailed", {"Authorization": f"Bearer {TOKEN}"})
    assert with_token == dict.fromkeys(CLIENTS, 200)
    assert set((await statuses(app, "/health/detailed")).values()) == {401}
    assert await statuses(app, "/metrics") == {**dict.fromkeys(CLIENTS, 403), "203.0.113.9": 200}
