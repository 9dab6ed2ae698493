"""The smallest instrumented service a new user writes: one ``telemetry.instrument(app)`` call
and nothing else (no outbox, no breaker, no pool, no queue). Served by the quiet-service test."""

from __future__ import annotations

from fastapi import FastAPI

import telemetry


def create_app() -> FastAPI:
    """A FastAPI app with one route, instrumented and nothing more."""
    app = FastAPI(title="quiet")

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    telemetry.instrument(app)
    return app
