"""The tiny service the multiprocess tests run under gunicorn and ``uvicorn --workers``."""

from __future__ import annotations

import os

from fastapi import FastAPI

import telemetry
from telemetry import catalog
from telemetry.events import RetryScheduled

app = FastAPI()
result = telemetry.instrument(app, service_name="mp")
# Each worker is degraded in "cache" while it lives: a live gauge, max over live workers.
result.instruments.set(catalog.DEGRADED, 1, component="cache")


@app.get("/hit")
async def hit() -> dict[str, int]:
    telemetry.record(RetryScheduled(retry_name="hit", attempt=1, delay=0.0))
    return {"pid": os.getpid()}
