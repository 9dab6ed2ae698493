"""Correlation and trace context across tasks, threads and background tasks, and no bleeding
between concurrent requests.

What carries context (Python copies contextvars for it): ``asyncio.create_task``,
``asyncio.to_thread``, Starlette's thread pool for sync endpoints and sync background tasks,
FastAPI ``BackgroundTasks``. What does not: ``loop.run_in_executor`` and bare threads; wrap the
callable in ``contextvars.copy_context().run`` there.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import random

import structlog
from fastapi import BackgroundTasks
from opentelemetry import trace

from telemetry import correlation

from .conftest import Harness


def seen() -> dict[str, str | None]:
    ctx = trace.get_current_span().get_span_context()
    return {"cid": correlation.get_correlation_id(), "trace": f"{ctx.trace_id:032x}" if ctx.is_valid else None}


async def test_context_survives_tasks_threads_and_background_tasks(harness: Harness) -> None:
    """Inside one request, create_task, to_thread, run_in_executor with copy_context, a sync
    endpoint's thread pool and a background task all see the request's correlation ID and trace;
    run_in_executor without copy_context sees neither (documented)."""
    results: dict[str, dict[str, str | None]] = {}
    background_done = asyncio.Event()

    def in_background() -> None:
        results["background_sync"] = seen()

    async def in_background_async() -> None:
        await asyncio.sleep(0)
        results["background_async"] = seen()
        background_done.set()

    @harness.app.get("/fan-out")
    async def fan_out(tasks: BackgroundTasks) -> dict[str, str | None]:
        loop = asyncio.get_running_loop()
        results["request"] = seen()
        results["create_task"] = await asyncio.create_task(_async_seen())
        results["to_thread"] = await asyncio.to_thread(seen)
        results["run_in_executor_copied"] = await loop.run_in_executor(
            None, functools.partial(contextvars.copy_context().run, seen)
        )
        results["run_in_executor_bare"] = await loop.run_in_executor(None, seen)
        tasks.add_task(in_background)
        tasks.add_task(in_background_async)
        return results["request"]

    @harness.app.get("/sync")
    def sync_endpoint() -> dict[str, str | None]:
        results["sync_endpoint"] = seen()
        return results["sync_endpoint"]

    response = await harness.get("/fan-out", headers={"X-Correlation-ID": "ctx-1"})
    await asyncio.wait_for(background_done.wait(), 5)
    await harness.get("/sync", headers={"X-Correlation-ID": "ctx-2"})
    request = results["request"]
    assert request["cid"] == "ctx-1"
    assert request["trace"] is not None
    assert response.json() == request
    assert {name: value for name, value in results.items() if name != "sync_endpoint"} == {
        "request": request,
        "create_task": request,
        "to_thread": request,
        "run_in_executor_copied": request,
        "run_in_executor_bare": {"cid": None, "trace": None},
        "background_sync": request,
        "background_async": request,
    }
    assert results["sync_endpoint"]["cid"] == "ctx-2"
    assert results["sync_endpoint"]["trace"] not in (None, request["trace"])
    assert correlation.get_correlation_id() is None


async def _async_seen() -> dict[str, str | None]:
    await asyncio.sleep(0)
    return seen()


async def test_no_bleeding_between_concurrent_requests(harness: Harness) -> None:
    """60 interleaved requests (random awaits, tasks and threads inside): each answer, each log
    line and each span carries its own request's correlation ID, and none is left bound after."""

    @harness.app.get("/item/{n}")
    async def item(n: int) -> dict[str, object]:
        before = correlation.get_correlation_id()
        await asyncio.sleep(random.random() / 100)
        in_task = await asyncio.create_task(_async_seen())
        in_thread = await asyncio.to_thread(seen)
        structlog.get_logger("orders").info("item.read", n=n)
        return {"n": n, "cid": [before, in_task["cid"], in_thread["cid"], correlation.get_correlation_id()]}

    responses = await asyncio.gather(
        *(harness.get(f"/item/{n}", headers={"X-Correlation-ID": f"req-{n}"}) for n in range(60))
    )
    assert [r.json() for r in responses] == [{"n": n, "cid": [f"req-{n}"] * 4} for n in range(60)]
    lines = [line for line in harness.outputs.log_lines() if line["event"] == "item.read"]
    assert sorted((line["n"], line["correlation_id"]) for line in lines) == [(n, f"req-{n}") for n in range(60)]
    servers = [s for s in harness.outputs.exporter.get_finished_spans() if s.name == "GET /item/{n}"]
    assert sorted(s.attributes["resilience.correlation_id"] for s in servers) == sorted(f"req-{n}" for n in range(60))
    assert len({s.context.trace_id for s in servers}) == 60
    assert correlation.get_correlation_id() is None
