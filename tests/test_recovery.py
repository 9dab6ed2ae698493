"""Recovery jobs (seed 003): deposits parked as PENDING_NETWORK_RECOVERY while the network is
down, processed in batches when it returns; the backlog is read from a real PostgreSQL table
at scrape time."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

import telemetry
from telemetry.recovery import PENDING_NETWORK_RECOVERY, RecoveryBacklogCollector, unwatch_recovery_backlog
from telemetry.testing import capture
from tests.conftest import port_open, require

PG_SYNC = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RUNS = "resilience_recovery_runs_total"
ITEMS = "resilience_recovery_items_total"


class ChainUnavailable(ConnectionError):
    """The blockchain node did not answer."""


@pytest.fixture
def uid() -> str:
    """A unique table-name prefix (other runs share the database)."""
    return f"h6_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def deposits(uid: str) -> Iterator[tuple[Any, Any]]:
    """A deposits table of our own on the real PostgreSQL, dropped afterwards."""
    require(port_open("127.0.0.1", 5432), "PostgreSQL on 127.0.0.1:5432")
    import sqlalchemy as sa

    metadata = sa.MetaData()
    table = sa.Table(
        f"{uid}_deposits",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    engine = sa.create_engine(PG_SYNC, pool_size=2)
    metadata.create_all(engine)
    try:
        yield engine, table
    finally:
        metadata.drop_all(engine)
        engine.dispose()


def backlog(cap, collector: RecoveryBacklogCollector) -> tuple[float | None, float | None, float | None]:
    collector.reading.wait_idle(5.0)
    return (
        cap.sample("resilience_recovery_backlog", recovery_name="deposits"),
        cap.sample("resilience_recovery_oldest_parked_age_seconds", recovery_name="deposits"),
        cap.sample("resilience_recovery_backlog_stale", recovery_name="deposits"),
    )


def by_outcome(cap, name: str) -> dict[str, float | None]:
    return {s["outcome"]: cap.sample(name, **s) for s in cap.series(name)}


def test_parked_deposits_drain_in_batches_when_the_network_returns(deposits) -> None:
    """Five deposits are parked while the chain is down; when it returns, batches of two are
    confirmed; one deposit is not found on chain and stays parked. The backlog read from the
    table goes 5 -> 1, the runs are success, partial, success."""
    import sqlalchemy as sa

    engine, table = deposits
    with capture() as cap:
        job = telemetry.recovery_job("deposits", dependency="blockchain")
        collector = RecoveryBacklogCollector(engine, name="deposits", table=table.name, min_interval=0)
        cap.instruments.register(collector)
        assert by_outcome(cap, RUNS) == {"success": 0.0, "partial": 0.0, "failure": 0.0}
        assert backlog(cap, collector) == (0.0, 0.0, 0.0)

        job.dependency_lost()
        parked_at = datetime.now(timezone.utc) - timedelta(minutes=10)
        with engine.begin() as conn:
            conn.execute(
                table.insert(),
                [{"id": i, "status": PENDING_NETWORK_RECOVERY, "created_at": parked_at} for i in range(1, 6)],
            )
            conn.execute(table.insert(), [{"id": 99, "status": "CONFIRMED", "created_at": parked_at}])
        job.parked(5, reason="network_down")
        count, age, stale = backlog(cap, collector)
        assert (count, stale) == (5.0, 0.0)
        assert 600.0 <= age < 660.0

        job.dependency_returned()
        not_on_chain = {4}
        last_id = 0
        while True:
            with engine.begin() as conn:
                batch = (
                    conn.execute(
                        sa.select(table.c.id)
                        .where(table.c.status == PENDING_NETWORK_RECOVERY, table.c.id > last_id)
                        .order_by(table.c.id)
                        .limit(2)
                    )
                    .scalars()
                    .all()
                )
                if not batch:
                    break
                with job.run() as run:
                    for deposit in batch:
                        if deposit in not_on_chain:
                            run.failed(error=ChainUnavailable())
                            continue
                        conn.execute(table.update().where(table.c.id == deposit).values(status="CONFIRMED"))
                        run.recovered()
                last_id = batch[-1]
        assert backlog(cap, collector)[0::2] == (1.0, 0.0)
    assert by_outcome(cap, RUNS) == {"success": 2.0, "partial": 1.0, "failure": 0.0}
    assert by_outcome(cap, ITEMS) == {"recovered": 4.0, "failed": 1.0}
    assert cap.sample("resilience_recovery_parked_total", recovery_name="deposits") == 5.0
    assert cap.sample("resilience_recovery_dependency_available", recovery_name="deposits") == 1.0
    assert cap.sample("resilience_recovery_dependency_returns_total", recovery_name="deposits") == 1.0
    returned = cap.sample("resilience_recovery_dependency_returned_timestamp_seconds", recovery_name="deposits")
    assert returned is not None
    assert abs(returned - time.time()) < 60
    assert cap.sample("resilience_recovery_run_duration_seconds_count", recovery_name="deposits") == 3.0
    assert [(line["event"], line["log_level"]) for line in cap.logs] == [
        ("telemetry.recovery.dependency_lost", "warning"),
        ("telemetry.recovery.parked", "info"),
        ("telemetry.recovery.dependency_returned", "info"),
        ("telemetry.recovery.run_completed", "info"),
        ("telemetry.recovery.run_partially_failed", "warning"),
        ("telemetry.recovery.run_completed", "info"),
    ]
    partial = cap.logs[4]
    del partial["recovery.duration_s"]
    assert partial == {
        "event": "telemetry.recovery.run_partially_failed",
        "log_level": "warning",
        "recovery.name": "deposits",
        "recovery.outcome": "partial",
        "recovery.recovered": 1,
        "recovery.failed": 1,
    }


async def test_a_run_that_raises_is_a_failure_and_propagates() -> None:
    """The async form: an exception inside the run reports failure with error.type, marks the
    span as an error, and reaches the caller."""

    async def recover(job) -> None:
        async with job.run() as run:
            run.recovered(3)
            await asyncio.sleep(0)
            raise ChainUnavailable

    with capture() as cap:
        job = telemetry.recovery_job("notifications", dependency="redis")
        with cap.tracer.start_as_current_span("recover"), pytest.raises(ChainUnavailable):
            await recover(job)
    assert {s["outcome"]: cap.sample(RUNS, **s) for s in cap.series(RUNS) if s["recovery_name"] == "notifications"} == {
        "success": 0.0,
        "partial": 0.0,
        "failure": 1.0,
    }
    assert cap.sample(ITEMS, recovery_name="notifications", outcome="recovered") == 3.0
    [line] = cap.logs
    assert (line["event"], line["log_level"], line["error.type"]) == (
        "telemetry.recovery.run_failed",
        "error",
        "ChainUnavailable",
    )
    [span] = cap.spans()
    assert span.status.status_code.name == "ERROR"
    assert {key: span.attributes[key] for key in ("recovery.name", "error.type")} == {
        "recovery.name": "notifications",
        "error.type": "ChainUnavailable",
    }


def test_dependency_reports_record_only_changes() -> None:
    """A health loop reporting "up" every few seconds records one return, not one per check;
    the flag is not exported before the first report (no state is not "down")."""
    with capture() as cap:
        job = telemetry.recovery_job("cache-warmup", dependency="redis")
        assert cap.sample("resilience_recovery_dependency_available", recovery_name="cache-warmup") is None
        for _ in range(3):
            job.dependency_returned()
        job.dependency_lost()
        job.dependency_lost()
        job.dependency_returned()
    assert cap.sample("resilience_recovery_dependency_returns_total", recovery_name="cache-warmup") == 2.0
    assert [line["event"] for line in cap.logs] == [
        "telemetry.recovery.dependency_returned",
        "telemetry.recovery.dependency_lost",
        "telemetry.recovery.dependency_returned",
    ]


def test_a_missing_table_serves_stale_without_a_backlog(uid: str) -> None:
    """A backlog query that fails is flagged stale and exports no backlog value to alert on."""
    require(port_open("127.0.0.1", 5432), "PostgreSQL on 127.0.0.1:5432")
    with capture() as cap:
        collector = RecoveryBacklogCollector(PG_SYNC, name="deposits", table=f"{uid}_missing", min_interval=0)
        cap.instruments.register(collector)
        assert backlog(cap, collector) == (None, None, 1.0)
        collector.engine.dispose()


def test_one_line_api_for_a_home_grown_job(raising_sink) -> None:
    """run_finished / run_failed for a job that times itself; a broken sink is contained."""
    with capture(extra_sinks=[raising_sink]) as cap:
        job = telemetry.recovery_job("fsm-states", dependency="redis")
        job.run_finished(recovered=10, duration=0.5)
        job.run_failed(ChainUnavailable(), recovered=2, duration=0.1)
    assert {s["outcome"]: cap.sample(RUNS, **s) for s in cap.series(RUNS)} == {
        "success": 1.0,
        "partial": 0.0,
        "failure": 1.0,
    }
    assert cap.sample(ITEMS, recovery_name="fsm-states", outcome="recovered") == 12.0
    assert cap.sample("resilience_telemetry_sink_errors_total", sink="log") == 2.0


def test_watching_is_idempotent_and_unwatch_removes_the_series(deposits) -> None:
    """watch_recovery_backlog twice serves one collector; unwatch takes the series away."""
    engine, table = deposits
    registry = CollectorRegistry()
    setup = telemetry.setup(registry=registry)
    first = telemetry.watch_recovery_backlog(engine, name="deposits", table=table.name, min_interval=0)
    assert telemetry.watch_recovery_backlog(engine, name="deposits", table=table.name) is first
    first.reading.get()
    first.reading.wait_idle(5.0)
    assert registry.get_sample_value("resilience_recovery_backlog", {"recovery_name": "deposits"}) == 0.0
    assert unwatch_recovery_backlog("deposits", telemetry=setup)
    assert not unwatch_recovery_backlog("deposits", telemetry=setup)
    assert registry.get_sample_value("resilience_recovery_backlog", {"recovery_name": "deposits"}) is None
