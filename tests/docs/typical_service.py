"""The typical service behind the series count in docs/metrics.md; run as a script, it writes its
``/metrics`` exposition to the path given.

FastAPI with five routes, one SQLAlchemy pool, one S3 client (four operations) behind one pybreaker
breaker, one tenacity retry policy and three health checks; every route, ``/health/ready`` and one
unknown path are called three times each, then ``/metrics`` is read once.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

ROUTES = ("/orders", "/orders/{order_id}", "/orders/{order_id}/receipt", "/customers/{customer_id}", "/search")
CALLS = ("/orders", "/orders/1", "/orders/1/receipt", "/customers/2", "/search", "/health/ready", "/missing")
S3_OPERATIONS = (
    ("put_object", {"Bucket": "b", "Key": "k", "Body": b"x"}),
    ("get_object", {"Bucket": "b", "Key": "k"}),
    ("head_object", {"Bucket": "b", "Key": "k"}),
    ("delete_object", {"Bucket": "b", "Key": "k"}),
)


def build() -> Any:
    import boto3
    import pybreaker
    import sqlalchemy as sa
    import tenacity
    from botocore.stub import Stubber
    from fastapi import FastAPI
    from prometheus_client import CollectorRegistry

    import telemetry
    from telemetry.health import HealthRegistry, health_router
    from telemetry.integrations.botocore import instrument_client
    from telemetry.integrations.pybreaker import instrument_breaker
    from telemetry.integrations.tenacity import instrument_retrying
    from telemetry.testing import in_memory_tracer

    app = FastAPI()
    engine = sa.create_engine("sqlite://", poolclass=sa.pool.QueuePool)
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    breaker = instrument_breaker(pybreaker.CircuitBreaker(name="s3", fail_max=5))
    retry = instrument_retrying(
        tenacity.Retrying(stop=tenacity.stop_after_attempt(3), wait=tenacity.wait_none()), name="orders_db"
    )
    health = HealthRegistry(timeout=1.0)

    async def healthy() -> None:
        return None

    for check in ("database", "s3", "broker"):
        health.add(check, healthy)
    app.include_router(health_router(health))

    def route(number: int) -> Any:
        def handler() -> dict[str, bool]:
            for attempt in retry:
                with attempt, engine.connect() as conn:
                    conn.execute(sa.text("SELECT 1"))
            operation, params = S3_OPERATIONS[number % len(S3_OPERATIONS)]
            with Stubber(s3) as stub:
                stub.add_response(operation, {})
                breaker.call(lambda: getattr(s3, operation)(**params))
            return {"ok": True}

        return handler

    for number, path in enumerate(ROUTES):
        app.get(path)(route(number))
    provider, _ = in_memory_tracer()
    telemetry.instrument(
        app, engine=engine, registry=CollectorRegistry(), tracer_provider=provider, service_name="orders"
    )
    instrument_client(s3)
    return app


async def exposition() -> str:
    import httpx

    app = build()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://orders") as client:
        for path in CALLS:
            for _ in range(3):
                await client.get(path)
        return (await client.get("/metrics")).text


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(asyncio.run(exposition()), encoding="utf-8")
