"""watch_outbox / unwatch_outbox on real PostgreSQL: idempotent, several tables on one
registry (one ``outbox_table`` series each on /metrics), and unwatching removes the series."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from outbox_support import PG_SYNC
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

import telemetry
from telemetry.outbox import unwatch_outbox, watch_outbox
from telemetry.outbox.table import FAILED, PENDING, outbox_table
from telemetry.testing import in_memory_tracer
from tests.conftest import port_open, require

NAMES = ("resilience_outbox_rows", "resilience_outbox_oldest_pending_age_seconds", "resilience_outbox_backlog_stale")


@pytest.fixture
def tables() -> Iterator[tuple[str, str]]:
    """Two reference outbox tables (``h2_`` prefixed): one pending row, created 30 s ago, in the first; two
    pending, created 60 s and 10 s ago, and one failed row in the second."""
    require(port_open("127.0.0.1", 5432), "PostgreSQL on 127.0.0.1:5432")
    uid = uuid.uuid4().hex[:8]
    metadata = sa.MetaData()
    first, second = outbox_table(metadata, f"h2_outbox_a_{uid}"), outbox_table(metadata, f"h2_outbox_b_{uid}")
    engine = sa.create_engine(PG_SYNC)
    now = datetime.now(timezone.utc)

    def row(message_id: str, status: str, age: float) -> dict[str, Any]:
        created = now - timedelta(seconds=age)
        return {
            "message_id": message_id,
            "destination": "orders",
            "payload": b"x",
            "headers": {},
            "status": status,
            "attempts": 0,
            "created_at": created,
            "available_at": created,
        }

    with engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(first.insert(), [row("a1", PENDING, 30)])
        conn.execute(second.insert(), [row("b1", PENDING, 60), row("b2", PENDING, 10), row("b3", FAILED, 1)])
    try:
        yield first.name, second.name
    finally:
        with engine.begin() as conn:
            metadata.drop_all(conn)
        engine.dispose()


async def scrape(app: FastAPI) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The outbox samples of one GET /metrics, ages rounded to 10 s."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): round(s.value, -1) if "age" in s.name else s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
        if s.name in NAMES
    }


def instrumented() -> tuple[FastAPI, telemetry.Telemetry]:
    app = FastAPI()
    provider, _ = in_memory_tracer()
    return app, telemetry.instrument(app, registry=CollectorRegistry(), tracer_provider=provider)


async def test_two_tables_give_two_series_and_unwatch_removes_them(tables: tuple[str, str]) -> None:
    """Two watched tables on one registry: /metrics has each table's pending/failed rows and
    oldest-pending age under its own ``outbox_table`` label (no "Duplicated timeseries");
    unwatching one removes exactly its series, unwatching the other leaves none."""
    first, second = tables
    app, setup = instrumented()
    watch_outbox(PG_SYNC, telemetry=setup, table=first, min_interval=0)
    watch_outbox(PG_SYNC, telemetry=setup, table=second, min_interval=0)

    def series(table: str, pending: float, failed: float, age: float) -> dict[Any, float]:
        label = ("outbox_table", table)
        return {
            ("resilience_outbox_rows", (label, ("status", "pending"))): pending,
            ("resilience_outbox_rows", (label, ("status", "failed"))): failed,
            ("resilience_outbox_oldest_pending_age_seconds", (label,)): age,
            ("resilience_outbox_backlog_stale", (label,)): 0.0,
        }

    assert await scrape(app) == {**series(first, 1, 0, 30.0), **series(second, 2, 1, 60.0)}
    assert unwatch_outbox(first, telemetry=setup) is True
    assert await scrape(app) == series(second, 2, 1, 60.0)
    assert unwatch_outbox(first, telemetry=setup) is False
    assert unwatch_outbox(second, telemetry=setup) is True
    assert await scrape(app) == {}


async def test_watching_a_table_twice_is_a_no_op(tables: tuple[str, str]) -> None:
    """A second watch_outbox for the same table returns the first collector and adds nothing:
    /metrics shows the table's series once, with the first call's options."""
    first, _ = tables
    app, setup = instrumented()
    collector = watch_outbox(PG_SYNC, telemetry=setup, table=first, min_interval=0)
    assert watch_outbox(PG_SYNC, telemetry=setup, table=first, min_interval=60) is collector
    label = ("outbox_table", first)
    assert await scrape(app) == {
        ("resilience_outbox_rows", (label, ("status", "pending"))): 1.0,
        ("resilience_outbox_rows", (label, ("status", "failed"))): 0.0,
        ("resilience_outbox_oldest_pending_age_seconds", (label,)): 30.0,
        ("resilience_outbox_backlog_stale", (label,)): 0.0,
    }
    assert collector.reading.min_interval == 0
    unwatch_outbox(first, telemetry=setup)
