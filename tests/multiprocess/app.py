"""The service the multiprocess tests run under gunicorn and ``uvicorn --workers N``.

Every worker has one breaker (``h_mp_payments``) and one instrumented PostgreSQL pool
(``h_mp_pool``, 4 + 2 overflow); with ``H_MP_OUTBOX`` / ``H_MP_DLQ`` set it also watches that
outbox table and dead-letter queue. Endpoints that change a worker's state take ``?only=<pid>``
and answer 409 on any other worker, so a test can act on the worker it means.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI, HTTPException, Request

import telemetry
from telemetry import catalog, multiprocess
from telemetry.events import RetryScheduled
from telemetry.health import HealthRegistry, health_router

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
AMQP = "amqp://guest:guest@127.0.0.1:5672/"

app = FastAPI()
result = telemetry.instrument(app, service_name="mp")
app.include_router(health_router(HealthRegistry()))
payments = telemetry.circuit_breaker("h_mp_payments")
# Each worker is degraded in "cache" while it lives: a live gauge, max over live workers.
result.instruments.set(catalog.DEGRADED, 1, component="cache")
_held: list[Any] = []


def _pool() -> Any:
    import sqlalchemy as sa

    from telemetry.integrations.sqlalchemy import instrument_engine

    return instrument_engine(sa.create_engine(PG, pool_size=4, max_overflow=2), pool_name="h_mp_pool")


engine = _pool()
if os.environ.get("H_MP_OUTBOX"):
    from telemetry.outbox import watch_outbox

    watch_outbox(PG, table=os.environ["H_MP_OUTBOX"], min_interval=0)
if os.environ.get("H_MP_DLQ"):
    from telemetry.dlq import watch_dead_letter_queues

    watch_dead_letter_queues([os.environ["H_MP_DLQ"]], url=AMQP, min_interval=0)


@app.middleware("http")
async def name_the_worker(request: Request, call_next: Any) -> Any:
    response = await call_next(request)
    response.headers["X-Worker"] = str(os.getpid())
    return response


def _mine(only: int | None) -> None:
    if only is not None and only != os.getpid():
        raise HTTPException(409, "another worker")


@app.get("/hit")
async def hit() -> dict[str, int]:
    telemetry.record(RetryScheduled(retry_name="hit", attempt=1, delay=0.0))
    return {"pid": os.getpid()}


@app.post("/breaker/{state}")
async def move_breaker(state: str, only: int | None = None) -> dict[str, str]:
    _mine(only)
    payments.state_changed(payments.state, state)
    return {"state": payments.state}


@app.post("/pool/hold/{count}")
def hold(count: int, only: int | None = None) -> dict[str, int]:
    _mine(only)
    _held.extend(engine.connect() for _ in range(count))
    return {"held": len(_held)}


@app.get("/whoami")
async def whoami() -> dict[str, Any]:
    found = multiprocess.publisher()
    return {"pid": os.getpid(), "reader": found is not None and found.reader}
