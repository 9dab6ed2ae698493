"""The one-call set-up on a FastAPI app: IDs everywhere, uniform errors, /metrics, idempotence."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI, HTTPException
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

import telemetry
from telemetry.events import RetryScheduled
from telemetry.testing import in_memory_tracer, json_logs


class Order(BaseModel):
    item: str
    quantity: int


def build_app() -> FastAPI:
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def get_order(order_id: int) -> dict[str, Any]:
        telemetry.record(RetryScheduled(retry_name="orders_db", attempt=1, delay=0.01, caused_by=TimeoutError()))
        structlog.get_logger("orders").info("order.read", order_id=order_id)
        return {"id": order_id}

    @app.post("/orders")
    async def create_order(order: Order) -> dict[str, Any]:
        return {"item": order.item}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("db at postgresql://app:topsecret@db/orders is down")

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(status_code=418, detail="short and stout", headers={"X-Tea": "1"})

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    return app


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    with json_logs(service="orders", level=logging.INFO) as logs:
        yield logs.stream


@pytest.fixture
async def env(stream: io.StringIO) -> AsyncIterator[dict[str, Any]]:
    provider, exporter = in_memory_tracer()
    registry = CollectorRegistry()
    app = build_app()
    result = telemetry.instrument(app, registry=registry, tracer_provider=provider, service_name="orders")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield {"client": client, "app": app, "exporter": exporter, "registry": registry, "telemetry": result}


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def test_one_request_same_ids_in_span_logs_metrics(env: dict[str, Any], stream: io.StringIO) -> None:
    """The resilience event's log line, the app's log line and the span share trace and correlation IDs."""
    response = await env["client"].get("/orders/5", headers={"X-Correlation-ID": "c-123"})
    assert response.status_code == 200
    assert response.headers["x-correlation-id"] == "c-123"
    [server] = [s for s in env["exporter"].get_finished_spans() if s.name == "GET /orders/{order_id}"]
    trace_id = f"{server.context.trace_id:032x}"
    assert server.attributes["app.correlation_id"] == "c-123"
    assert [e.name for e in server.events] == ["telemetry.retry.scheduled"]
    lines = [line for line in log_lines(stream) if line["event"] in ("telemetry.retry.scheduled", "order.read")]
    assert [(line["event"], line["trace_id"], line["correlation_id"], line["service"]) for line in lines] == [
        ("telemetry.retry.scheduled", trace_id, "c-123", "orders"),
        ("order.read", trace_id, "c-123", "orders"),
    ]
    metrics = await env["client"].get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    text = metrics.text
    assert metrics.headers["content-type"].startswith("application/openmetrics-text")
    [duration] = [
        line
        for line in text.splitlines()
        if line.startswith("http_server_request_duration_seconds_count{") and 'http_route="/orders/{order_id}"' in line
    ]
    assert 'http_request_method="GET"' in duration
    assert 'http_response_status_code="200"' in duration
    assert f'trace_id="{trace_id}"' in text  # exemplar links the histogram to the trace


async def test_unhandled_exception_uniform_500_one_error_log(env: dict[str, Any], stream: io.StringIO) -> None:
    """A crash answers 500 with the envelope only, logs one redacted ERROR with the stack."""
    response = await env["client"].get("/boom", headers={"X-Request-ID": "req-9"})
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error", "correlation_id": "req-9"}
    assert response.headers["x-correlation-id"] == "req-9"
    errors = [line for line in log_lines(stream) if line["level"] == "error"]
    assert len(errors) == 1
    [error] = errors
    assert error["event"] == "telemetry.http.unhandled_exception"
    assert error["correlation_id"] == "req-9"
    assert error["error.type"] == "RuntimeError"
    assert error["http.route"] == "/boom"
    assert "Traceback" in error["exception"]
    assert "topsecret" not in stream.getvalue()
    assert "topsecret" not in response.text
    [server] = [s for s in env["exporter"].get_finished_spans() if s.name == "GET /boom"]
    assert server.status.status_code.name == "ERROR"
    assert server.attributes["error.type"] == "RuntimeError"
    [exception] = [e for e in server.events if e.name == "exception"]
    assert exception.attributes["exception.message"] == "db at postgresql://app:***@db/orders is down"
    assert "topsecret" not in str(dict(exception.attributes))
    count = env["registry"].get_sample_value(
        "http_server_request_duration_seconds_count",
        {"http_request_method": "GET", "http_route": "/boom", "http_response_status_code": "500"},
    )
    assert count == 1.0


async def test_validation_error_envelope_without_input(env: dict[str, Any]) -> None:
    """422 in the same envelope; the offending input is not echoed back."""
    response = await env["client"].post(
        "/orders", json={"item": "x", "quantity": "password=hunter2"}, headers={"X-Correlation-ID": "v-1"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_error"
    assert body["correlation_id"] == "v-1"
    assert [d["loc"] for d in body["detail"]] == [["body", "quantity"]]
    assert "hunter2" not in response.text


async def test_http_exception_keeps_status_and_headers(env: dict[str, Any]) -> None:
    """HTTPException answers its own status and headers in the envelope."""
    response = await env["client"].get("/teapot", headers={"X-Correlation-ID": "t-1"})
    assert response.status_code == 418
    assert response.json() == {"error": "short and stout", "correlation_id": "t-1"}
    assert response.headers["x-tea"] == "1"
    missing = await env["client"].get("/nope")
    assert missing.status_code == 404
    assert missing.json()["error"] == "Not Found"


async def test_metrics_and_health_are_not_traced(env: dict[str, Any]) -> None:
    """Scrapes and health probes make no spans."""
    await env["client"].get("/metrics")
    await env["client"].get("/health/live")
    assert env["exporter"].get_finished_spans() == ()


async def test_unmatched_paths_share_one_route_label(env: dict[str, Any]) -> None:
    """Random 404 paths never create a series per URL."""
    for i in range(20):
        await env["client"].get(f"/random/{i}")
    routes = {
        dict(sample.labels)["http_route"]
        for metric in env["registry"].collect()
        for sample in metric.samples
        if sample.name == "http_server_request_duration_seconds_count"
    }
    assert routes == {"_UNMATCHED"}


async def test_instrument_twice_changes_nothing(env: dict[str, Any]) -> None:
    """A second call returns the same set-up and adds no middleware, route or registration."""
    app = env["app"]
    middleware_before = len(app.user_middleware)
    routes_before = len(app.routes)
    again = telemetry.instrument(app, registry=env["registry"])
    assert again is env["telemetry"]
    assert len(app.user_middleware) == middleware_before
    assert len(app.routes) == routes_before
    response = await env["client"].get("/orders/1")
    assert response.status_code == 200
