"""A minimal instrumented FastAPI service that shows what one set-up call gives you.

Run with ``make demo`` (or ``python -m examples.quickstart``). It serves a tiny order API
in-process, sends a few requests (one succeeds after a home-grown retry, one crashes), and
prints the JSON log lines, the span events and the resilience metrics they produced.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys

import httpx
import structlog
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

import telemetry
from telemetry.events import RetryExhausted, RetryScheduled, RetrySucceeded
from telemetry.testing import in_memory_tracer


class FlakyDatabaseError(ConnectionError):
    """Stands in for a dropped database connection."""


def build_app() -> FastAPI:
    app = FastAPI(title="orders (quickstart)")
    attempts = {"n": 0}

    @app.get("/orders/{order_id}")
    async def read_order(order_id: int) -> dict[str, int]:
        # A home-grown retry loop reporting through the explicit API: one line per fact.
        for attempt in range(1, 4):
            attempts["n"] += 1
            if attempts["n"] % 3 != 0:
                telemetry.record(
                    RetryScheduled(retry_name="orders_db", attempt=attempt, delay=0.01, caused_by=FlakyDatabaseError())
                )
                await asyncio.sleep(0.01)
                continue
            telemetry.record(RetrySucceeded(retry_name="orders_db", attempts=attempt, waited=0.01 * (attempt - 1)))
            return {"id": order_id}
        telemetry.record(RetryExhausted(retry_name="orders_db", attempts=3, caused_by=FlakyDatabaseError()))
        raise FlakyDatabaseError

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("postgresql://orders:do-not-log-me@db/orders unreachable")

    return app


async def drive(app: FastAPI) -> list[str]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://orders") as client:
        summary = []
        for path, cid in (("/orders/1", "demo-1"), ("/orders/2", "demo-2"), ("/crash", "demo-3")):
            response = await client.get(path, headers={"X-Correlation-ID": cid})
            summary.append(f"GET {path} -> {response.status_code} {response.text}")
        metrics = await client.get("/metrics")
        summary.extend(
            line for line in metrics.text.splitlines() if line.startswith("resilience_retry") and "_created" not in line
        )
        return summary


def main() -> int:
    logs = io.StringIO()
    telemetry.configure_logging(service="orders", stream=logs)
    provider, exporter = in_memory_tracer()
    app = build_app()
    telemetry.instrument(app, service_name="orders", registry=CollectorRegistry(), tracer_provider=provider)
    summary = asyncio.run(drive(app))
    print("== requests and resilience metrics")
    print("\n".join(summary))
    print("\n== log lines (JSON; note trace_id and correlation_id on each)")
    for line in logs.getvalue().splitlines():
        entry = json.loads(line)
        entry.pop("exception", None)
        print(json.dumps(entry, sort_keys=True))
    print("\n== span events")
    for span in exporter.get_finished_spans():
        for event in span.events:
            print(f"{span.name}: {event.name} {dict(event.attributes or {})}")
    structlog.reset_defaults()
    ok = "do-not-log-me" not in logs.getvalue() and any("success_after_retry" in line for line in summary)
    print("\nquickstart:", "OK" if ok else "UNEXPECTED OUTPUT")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
