"""Case 7: unique correlation IDs and random error messages must not grow series or memory.

The fully instrumented app is driven in-process through ASGI (no sockets, so 100,000
requests fit in the time budget). Every request carries a fresh ``X-Correlation-ID`` and a
fresh order ID in its path, records a scheduled retry caused by an exception with a random
message, and one request in a hundred fails with another random message (500 envelope and
an ERROR log line with the stack, rendered as JSON into a null stream).
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from typing import Any

from bench.harness import Budget, Row, Settings, null_logs, rss_bytes


def _app() -> tuple[Any, Any]:
    from fastapi import FastAPI
    from prometheus_client import CollectorRegistry

    import telemetry
    from telemetry.events import RetryScheduled

    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def read_order(order_id: int) -> dict[str, object]:
        cause = ConnectionError(f"connection to 10.0.{order_id % 250}.7 reset: {secrets.token_hex(8)}")
        telemetry.record(RetryScheduled(retry_name="orders_db", attempt=1, delay=0.05, caused_by=cause))
        if order_id % 100 == 0:
            msg = f"order {order_id} failed: {secrets.token_hex(12)}"
            raise RuntimeError(msg)
        return {"id": order_id}

    registry = CollectorRegistry()
    null_logs()
    telemetry.instrument(app, service_name="bench", registry=registry)
    return app, registry


async def _request(app: Any, order_id: int) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": f"/orders/{order_id}",
        "raw_path": f"/orders/{order_id}".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"x-correlation-id", uuid.uuid4().hex.encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def _series(registry: Any) -> int:
    return sum(len(metric.samples) for metric in registry.collect())


def cardinality(settings: Settings) -> list[Row]:
    total = 3_000 if settings.quick else 100_000
    warm = total // 10
    app, registry = _app()

    async def drive() -> tuple[int, int, int, int]:
        for order_id in range(1, warm + 1):
            await _request(app, order_id)
        series, rss = _series(registry), rss_bytes()
        statuses = [await _request(app, order_id) for order_id in range(warm + 1, total + 1)]
        if sorted(set(statuses)) != [200, 500]:
            msg = f"unexpected statuses {sorted(set(statuses))}"
            raise RuntimeError(msg)
        return series, _series(registry), rss, rss_bytes()

    series_warm, series_end, rss_warm, rss_end = asyncio.run(drive())
    detail = f"{total:,} requests, {warm:,} of them warm-up, 1 in 100 an unhandled error"
    return [
        Row(
            "cardinality",
            "Prometheus samples after all requests",
            series_end,
            "samples",
            "after warm-up",
            series_warm,
            Budget("<=", 1.0),
            detail=detail,
            reps=1,
        ),
        Row(
            "cardinality",
            "resident memory growth after warm-up",
            (rss_end - rss_warm) / 2**20,
            "MB",
            budget=Budget("<=", 10.0, on="value"),
            detail=f"{rss_warm / 2**20:.0f} MB -> {rss_end / 2**20:.0f} MB",
            reps=1,
        ),
    ]
