"""OpenTelemetry's propagator warnings are tamed (issue 15, finding 6)."""

from __future__ import annotations

import io
from typing import Any

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

import telemetry
from telemetry.correlation import install_propagator_filter
from telemetry.logging import configure_logging, unconfigure_logging
from telemetry.testing import in_memory_tracer, json_lines

ATTACK = "Evil Key=" + "X" * 300 + "-" * 20 + "injected"


async def test_malformed_tracestate_warnings_are_rate_limited_short_escaped_and_correlated() -> None:
    """50 requests with a crafted tracestate: at most 10 WARNING lines from OpenTelemetry's
    loggers, each with the request's correlation ID and at most 32 escaped characters of the
    offending value; the suppressed count is named once the window allows a line again."""
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    provider, _ = in_memory_tracer()
    telemetry.instrument(app, registry=CollectorRegistry(), tracer_provider=provider)
    install_propagator_filter().reset()
    stream = io.StringIO()
    configure_logging(service="orders", stream=stream)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            for i in range(50):
                headers = {
                    "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                    "tracestate": ATTACK,
                    "X-Correlation-ID": f"req-{i}",
                }
                assert (await client.get("/ping", headers=headers)).status_code == 200
    finally:
        unconfigure_logging()
        install_propagator_filter().reset()
    lines: list[dict[str, Any]] = [line for line in json_lines(stream) if line["logger"].startswith("opentelemetry")]
    assert [(line["level"], line["correlation_id"]) for line in lines] == [("warning", f"req-{i}") for i in range(10)]
    assert {line["event"] for line in lines} == {
        "malformed trace propagation header ignored (span); value starts Evil Key=XXXXXXXXXXXXXXXXXXXXXXX... "
        f"[correlation_id={line['correlation_id']}]"
        for line in lines
    }
