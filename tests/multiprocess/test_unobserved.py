"""Scrapes and health probes are answered but never counted as HTTP requests (one process)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

import telemetry
from telemetry.health import HealthRegistry, health_router
from telemetry.integrations.fastapi import instrument_app
from telemetry.testing import in_memory_tracer


async def test_metrics_and_health_do_not_move_request_counts() -> None:
    """3 /orders requests, then 4 scrapes (one on a custom metrics path) and 4 health probes:
    the request histogram holds exactly the 3 /orders requests."""
    app = FastAPI()
    provider, _ = in_memory_tracer()
    setup = telemetry.setup(registry=CollectorRegistry(), tracer_provider=provider)
    instrument_app(app, telemetry=setup, metrics_path="/internal/metrics")
    app.include_router(health_router(HealthRegistry()))

    @app.get("/orders")
    async def orders() -> dict[str, str]:
        return {"ok": "yes"}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        for _ in range(3):
            assert (await client.get("/orders")).status_code == 200
        for _ in range(4):
            assert (await client.get("/internal/metrics")).status_code == 200
            assert (await client.get("/health/live")).status_code == 200
        text = (await client.get("/internal/metrics")).text
    counts = {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "http_server_request_duration_seconds_count"
    }
    assert counts == {
        (
            ("error_type", ""),
            ("http_request_method", "GET"),
            ("http_response_status_code", "200"),
            ("http_route", "/orders"),
            ("url_scheme", "http"),
        ): 3.0
    }
