"""The first valid correlation header wins (issue 15, finding 7)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

import telemetry
from telemetry.testing import in_memory_tracer


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([("X-Correlation-ID", "first-1"), ("X-Correlation-ID", "second-2")], "first-1"),
        ([("X-Correlation-ID", "bad value\x7f"), ("X-Correlation-ID", "second-2")], "second-2"),
        ([("X-Request-ID", "req-9"), ("X-Correlation-ID", "corr-1")], "corr-1"),
        ([("X-Correlation-ID", "bad value\x7f"), ("X-Request-ID", "req-9"), ("X-Request-ID", "req-10")], "req-9"),
    ],
    ids=["duplicates", "first-invalid", "names-in-order", "fallback-name-first-occurrence"],
)
async def test_first_valid_header_wins(headers: list[tuple[str, str]], expected: str) -> None:
    """Names are tried in the configured order (X-Correlation-ID, then X-Request-ID), each name's
    occurrences in request order; the first valid value is bound and echoed."""
    app = FastAPI()

    @app.get("/id")
    async def read() -> dict[str, str | None]:
        return {"id": telemetry.get_correlation_id()}

    provider, _ = in_memory_tracer()
    telemetry.instrument(app, tracer_provider=provider)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/id", headers=headers)
    assert (response.json(), response.headers["x-correlation-id"]) == ({"id": expected}, expected)
