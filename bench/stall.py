"""Case 8: a concurrent endpoint's p99 while ``/metrics`` is scraped and its sources hang.

Two scrape-time sources (dead-letter-queue style readers, each with a 1 s timeout, the shape of
the outbox backlog plus DLQ collectors) either answer at once or hang as behind a partition.
Baseline and stalled rounds alternate in one process, each loading ``/ping`` with a scraper
running beside it; the ratio is the median of the per-round p99 ratios.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from typing import TYPE_CHECKING, Any

from bench.harness import Budget, Row

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bench.harness import Settings

BUDGET = Budget("<=", 2.0)


class _Source:
    """A blocking reader that answers at once, or hangs until released while ``stalled``."""

    def __init__(self) -> None:
        self.flowing = threading.Event()
        self.flowing.set()

    def __call__(self, queues: Sequence[str]) -> dict[str, Any]:
        from telemetry.dlq import QueueStats

        self.flowing.wait()
        return {queue: QueueStats(depth=3) for queue in queues}


async def _round(client: Any, seconds: float) -> float:
    """p99 of ``/ping`` in ms over ``seconds`` while a scraper scrapes every 20 ms."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def scraper() -> None:
        while time.perf_counter() < deadline:
            await client.get("/metrics")
            await asyncio.sleep(0.02)

    task = asyncio.create_task(scraper())
    while time.perf_counter() < deadline or len(latencies) < 100:
        started = time.perf_counter()
        await client.get("/ping")
        latencies.append((time.perf_counter() - started) * 1000)
    await task
    return float(statistics.quantiles(latencies, n=100)[98])


async def _measure(settings: Settings) -> tuple[list[float], list[float]]:
    import httpx
    from fastapi import FastAPI
    from prometheus_client import CollectorRegistry

    import telemetry
    from telemetry.dlq import watch_dead_letter_queues
    from telemetry.testing import in_memory_tracer

    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        await asyncio.sleep(0.002)  # a request doing a little I/O of its own
        return {"ok": "yes"}

    provider, _ = in_memory_tracer()
    result = telemetry.instrument(app, registry=CollectorRegistry(), tracer_provider=provider)
    sources = [_Source(), _Source()]
    for n, source in enumerate(sources):
        watch_dead_letter_queues([f"q{n}.dlq"], read=source, telemetry=result, timeout=1.0, min_interval=0.0)
    rounds, seconds = (2, 0.5) if settings.quick else (9, 3.0)
    healthy: list[float] = []
    stalled: list[float] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b", timeout=30) as client:
        await _round(client, 0.2)  # warm-up
        for _ in range(rounds):
            healthy.append(await _round(client, seconds))
            for source in sources:
                source.flowing.clear()
            stalled.append(await _round(client, seconds))
            for source in sources:
                source.flowing.set()
            await asyncio.sleep(0.05)  # the hung reads finish before the next healthy round
    return healthy, stalled


def stall(settings: Settings) -> list[Row]:
    """Case 8: p99 of a concurrent endpoint, sources healthy vs hung, scraped meanwhile."""
    healthy, stalled = asyncio.run(_measure(settings))
    ratios = [s / h for s, h in zip(stalled, healthy, strict=True)]
    base = "scrape-time sources healthy: /ping p99"
    detail = f"{len(ratios)} paired rounds"
    if len(ratios) > 1:
        low, _, high = statistics.quantiles(ratios, n=4)
        detail += f"; per-round ratios' quartiles {low:.2f}-{high:.2f}"
    return [
        Row("stall", base, statistics.median(healthy), "ms", detail="scraped every 20 ms", reps=len(healthy)),
        Row(
            "stall",
            "scrape-time sources hung (2 x 1 s timeout): /ping p99",
            statistics.median(stalled),
            "ms",
            base,
            statistics.median(healthy),
            BUDGET,
            detail=detail,
            reps=len(stalled),
            ratio=statistics.median(ratios),
        ),
    ]
