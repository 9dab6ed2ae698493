"""Every signal under several workers, with real gunicorn (uvicorn workers) and ``uvicorn --workers``.

Breakers and pools live in one worker: each worker's state is on every scrape, labelled
``worker="<pid>"``, whichever worker answers. The outbox backlog and DLQ depth describe one
table and one queue: read by one worker, exported once, equal to the real counts (PostgreSQL
table and RabbitMQ queue named ``h_mp_*``). SIGTERM leaves no live-gauge files, and scrapes
and health probes never count as HTTP requests.
"""

from __future__ import annotations

import os
import re
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from telemetry.testing import eventually, port_open, require_service
from tests.multiprocess.servers import Samples, Server, only, start

pytestmark = pytest.mark.slow  # real servers in subprocesses

APP = "tests.multiprocess.app:app"
KINDS = ("gunicorn", "uvicorn")
BREAKER = "h_mp_payments"
POOL = "h_mp_pool"


def breaker_states(samples: Samples) -> dict[tuple[str, str], float]:
    """``(worker, state) -> value`` of the breaker's one-hot state gauge."""
    return {
        (dict(labels)["worker"], dict(labels)["state"]): value
        for (_, labels), value in only(samples, "resilience_circuit_state", breaker_name=BREAKER).items()
    }


def one_hot(open_in: int, workers: set[int]) -> dict[tuple[str, str], float]:
    states = {}
    for pid in workers:
        current = "open" if pid == open_in else "closed"
        for state in ("closed", "open", "half_open"):
            states[(str(pid), state)] = 1.0 if state == current else 0.0
    return states


@pytest.mark.parametrize("kind", KINDS)
def test_breaker_open_in_one_worker_is_on_every_scrape(kind: str, tmp_path: Path) -> None:
    """A breaker opened in one of 3 workers shows open for that worker (and closed for the
    others) on every scrape, whichever worker answers; when that worker dies its series go."""
    require_service(port_open("127.0.0.1", 5432), "PostgreSQL on 127.0.0.1:5432")
    with start(kind, tmp_path, APP, 3) as server:
        workers = server.workers(3)
        victim = min(workers)
        assert server.on_worker("POST", "/breaker/open", victim).json() == {"state": "open"}
        expected = one_hot(victim, workers)
        answered: list[int] = []
        seen_open = 0
        while len(answered) < 10 or len(set(answered)) < 2:
            assert len(answered) < 100, f"only {set(answered)} answered scrapes"
            worker, samples = server.scrape()
            answered.append(worker)
            seen_open += breaker_states(samples) == expected
        assert seen_open == len(answered)  # 10 of 10 (or more), answered by 2+ workers
        assert len(set(answered)) >= 2

        os.kill(victim, signal.SIGKILL)

        # The dead worker's state goes with its live files (a replacement starts closed).
        def without_victim() -> bool:
            states = breaker_states(server.scrape()[1])
            return bool(states) and all(worker != str(victim) for worker, _ in states)

        eventually(without_victim, timeout=20, interval=0.2, what="the dead worker's breaker series")
        assert all(value == (state == "closed") for (_, state), value in breaker_states(server.scrape()[1]).items())


@pytest.mark.parametrize("kind", KINDS)
def test_pool_gauges_per_worker_and_in_total(kind: str, tmp_path: Path) -> None:
    """Worker A holds 3 connections, worker B 1: each worker's count/max/idle.max is its own
    pool's, and the sum over workers is the pod's total (4 used)."""
    require_service(port_open("127.0.0.1", 5432), "PostgreSQL on 127.0.0.1:5432")
    with start(kind, tmp_path, APP, 2) as server:
        a, b = sorted(server.workers(2))
        assert server.on_worker("POST", "/pool/hold/3", a).json() == {"held": 3}
        assert server.on_worker("POST", "/pool/hold/1", b).json() == {"held": 1}

        def pool_series() -> dict[tuple[str, ...], float]:
            samples = server.scrape()[1]
            found = {}
            for name in ("db_client_connection_count", "db_client_connection_max", "db_client_connection_idle_max"):
                for (_, labels), value in only(samples, name, db_client_connection_pool_name=POOL).items():
                    found[(name, *(v for k, v in labels if k != "db_client_connection_pool_name"))] = value
            return found

        expected = {
            ("db_client_connection_count", "idle", str(a)): 0.0,
            ("db_client_connection_count", "used", str(a)): 3.0,
            ("db_client_connection_count", "idle", str(b)): 0.0,
            ("db_client_connection_count", "used", str(b)): 1.0,
            ("db_client_connection_max", str(a)): 6.0,
            ("db_client_connection_max", str(b)): 6.0,
            ("db_client_connection_idle_max", str(a)): 4.0,
            ("db_client_connection_idle_max", str(b)): 4.0,
        }
        eventually(lambda: pool_series() == expected, timeout=10, interval=0.2, what="pool gauges")
        got = pool_series()
        used = sum(v for k, v in got.items() if k[:2] == ("db_client_connection_count", "used"))
        assert used == 4.0  # sum without (worker): the pod's total
        assert sum(v for k, v in got.items() if k[0] == "db_client_connection_max") == 12.0


@pytest.fixture
def outbox_table() -> Iterator[str]:
    """A PostgreSQL outbox table ``h_mp_outbox_<uid>`` with 5 pending and 2 failed rows."""
    require_service(port_open("127.0.0.1", 5432), "PostgreSQL on 127.0.0.1:5432")
    import sqlalchemy as sa

    name = f"h_mp_outbox_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {name} (status text, created_at timestamptz DEFAULT now())"))
        conn.execute(sa.text(f"INSERT INTO {name} (status) SELECT 'pending' FROM generate_series(1, 5)"))
        conn.execute(sa.text(f"INSERT INTO {name} (status) VALUES ('failed'), ('failed'), ('sent')"))
    try:
        yield name
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        engine.dispose()


@pytest.fixture
def dead_letters() -> Iterator[str]:
    """A RabbitMQ queue ``h_mp_dlq_<uid>`` holding 3 messages; deleted afterwards."""
    require_service(port_open("127.0.0.1", 5672), "RabbitMQ on 127.0.0.1:5672")
    import asyncio

    import aio_pika

    name = f"h_mp_dlq_{uuid.uuid4().hex[:8]}"

    async def fill() -> None:
        connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            await channel.declare_queue(name)
            for _ in range(3):
                await channel.default_exchange.publish(aio_pika.Message(b"x"), routing_key=name)

    async def delete() -> None:
        connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(name)

    asyncio.run(fill())
    try:
        yield name
    finally:
        asyncio.run(delete())


def shared_series(samples: Samples, table: str, queue: str) -> Samples:
    return {
        **only(samples, "resilience_outbox_rows", outbox_table=table),
        **only(samples, "resilience_outbox_backlog_stale", outbox_table=table),
        **only(samples, "resilience_dlq_depth", queue=queue),
        **only(samples, "resilience_dlq_stats_stale", queue=queue),
    }


@pytest.mark.parametrize("kind", KINDS)
def test_backlog_and_dlq_depth_are_the_real_counts_once(
    kind: str, tmp_path: Path, outbox_table: str, dead_letters: str
) -> None:
    """With 3 workers, backlog and DLQ depth equal the real counts (5 pending, 2 failed, 3
    messages), one series each with no worker label, read by exactly one worker; when that
    worker dies another takes over and new rows show up."""
    env = {"H_MP_OUTBOX": outbox_table, "H_MP_DLQ": dead_letters}
    with start(kind, tmp_path, APP, 3, **env) as server:

        def expected(pending: float) -> Samples:
            return {
                ("resilience_outbox_rows", (("outbox_table", outbox_table), ("status", "failed"))): 2.0,
                ("resilience_outbox_rows", (("outbox_table", outbox_table), ("status", "pending"))): pending,
                ("resilience_outbox_backlog_stale", (("outbox_table", outbox_table),)): 0.0,
                ("resilience_dlq_depth", (("queue", dead_letters),)): 3.0,
                ("resilience_dlq_stats_stale", (("queue", dead_letters),)): 0.0,
            }

        def shows(pending: float) -> bool:
            return shared_series(server.scrape()[1], outbox_table, dead_letters) == expected(pending)

        eventually(lambda: shows(5.0), timeout=15, interval=0.2, what="backlog and DLQ depth")
        assert all(shows(5.0) for _ in range(10))  # on every scrape, whichever worker answers
        readers = reader_pids(server, 3)
        assert len(readers) == 1

        os.kill(readers[0], signal.SIGKILL)
        import sqlalchemy as sa

        engine = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
        with engine.begin() as conn:
            conn.execute(sa.text(f"INSERT INTO {outbox_table} (status) VALUES ('pending')"))
        engine.dispose()
        eventually(lambda: shows(6.0), timeout=20, interval=0.2, what="the new reader's backlog")
        assert len(reader_pids(server, 3, avoid=readers[0])) == 1


def reader_pids(server: Server, workers: int, avoid: int | None = None) -> list[int]:
    """The workers (of ``workers`` live ones) that read the shared sources."""
    roles: dict[int, bool] = {}
    for _ in range(600):
        answer = server.request("GET", "/whoami").json()
        if answer["pid"] != avoid:
            roles[answer["pid"]] = answer["reader"]
        if len(roles) >= workers:
            break
    assert len(roles) == workers, roles
    return [pid for pid, reader in roles.items() if reader]


@pytest.mark.parametrize("kind", KINDS)
def test_sigterm_leaves_no_live_files(kind: str, tmp_path: Path) -> None:
    """SIGTERM to the server: every worker's live-gauge files are gone (gunicorn: lifespan and
    child_exit; uvicorn: lifespan, since atexit never runs there); counters, histograms and
    the timestamp gauge (max) stay, by design, until the next prepare()."""
    require_service(port_open("127.0.0.1", 5432), "PostgreSQL on 127.0.0.1:5432")
    with start(kind, tmp_path, APP, 2) as server:
        workers = server.workers(2)
        assert server.on_worker("POST", "/breaker/open", min(workers)).json() == {"state": "open"}
        eventually(lambda: len(server.live_files()) == 4, timeout=10, what="livemax + livesum files per worker")
        assert server.live_files() == sorted(
            f"gauge_{mode}_{pid}.db" for pid in workers for mode in ("livemax", "livesum")
        )
        assert server.terminate() == 0
        left = sorted(p.name for p in server.directory.iterdir())
    # no gauge_max file: the only max-mode gauge (the relay heartbeat) exists once a relay polls
    assert left == sorted(f"{kind}_{pid}.db" for pid in workers for kind in ("counter", "histogram"))


@pytest.mark.parametrize("kind", KINDS)
def test_scrapes_and_probes_are_not_requests(kind: str, tmp_path: Path) -> None:
    """20 /hit requests, then scrapes and health probes: the request histogram counts the 20
    /hit requests and nothing else (no /metrics, no _UNMATCHED, no /health/*)."""
    require_service(port_open("127.0.0.1", 5432), "PostgreSQL on 127.0.0.1:5432")
    with start(kind, tmp_path, APP, 2) as server:
        before = count_series(server.scrape()[1])
        for _ in range(20):
            server.request("GET", "/hit")
        for _ in range(5):
            server.scrape()
            server.request("GET", "/health/live")
            server.request("GET", "/health/ready")
        after = count_series(server.scrape()[1])
    hits = (
        ("error_type", ""),
        ("http_request_method", "GET"),
        ("http_response_status_code", "200"),
        ("http_route", "/hit"),
        ("url_scheme", "http"),
    )
    assert set(before) == {hits}  # the start-up probe of running()
    assert after == {hits: before[hits] + 20}


def count_series(samples: Samples) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        labels: value
        for (name, labels), value in samples.items()
        if name == "http_server_request_duration_seconds_count"
    }


def test_no_live_file_names_outside_prometheus_client_patterns() -> None:
    """The cleanup patterns cover every live mode this package writes (livemax, livesum,
    livemostrecent): mark_process_dead deletes ``gauge_live*_<pid>.db``."""
    from prometheus_client.multiprocess import _LIVE_GAUGE_MULTIPROCESS_MODES  # type: ignore[attr-defined]

    assert {"livemax", "livesum", "livemostrecent"} <= set(_LIVE_GAUGE_MULTIPROCESS_MODES)
    assert re.fullmatch(r"gauge_live[a-z]+_(\d+)\.db", "gauge_livemostrecent_12.db")


OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@pytest.mark.parametrize("kind", KINDS)
def test_exemplars_on_the_openmetrics_scrape(kind: str, tmp_path: Path) -> None:
    """A /hit request in trace T on worker W: an OpenMetrics scrape answered by W carries T as
    the exemplar of the /hit latency bucket and of the retry counter, on the workers' summed
    values (the path from a latency panel to the trace, under several workers)."""
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    require_service(port_open("127.0.0.1", 5432), "PostgreSQL on 127.0.0.1:5432")
    trace_id = uuid.uuid4().hex
    with start(kind, tmp_path, APP, 2) as server:
        server.workers(2)
        import httpx

        with httpx.Client(base_url=server.url) as client:
            served = client.get("/hit", headers={"traceparent": f"00-{trace_id}-{'1' * 16}-01"})
        worker = server.worker_of(served)
        for _ in range(200):
            with httpx.Client(base_url=server.url) as client:
                scraped = client.get("/metrics", headers={"Accept": OPENMETRICS})
            if server.worker_of(scraped) == worker:
                break
        else:
            pytest.fail(f"worker {worker} answered no scrape")
    assert scraped.headers["content-type"].startswith("application/openmetrics-text")
    exemplars = {
        (sample.name, sample.labels.get("http_route") or sample.labels.get("retry_name")): sample.exemplar
        for family in text_string_to_metric_families(scraped.text)
        for sample in family.samples
        if sample.exemplar is not None and sample.exemplar.labels["trace_id"] == trace_id
    }
    assert sorted(exemplars) == [
        ("http_server_request_duration_seconds_bucket", "/hit"),
        ("resilience_retry_scheduled_total", "hit"),
    ]
    assert exemplars[("resilience_retry_scheduled_total", "hit")].value == 1.0
    span_ids = {exemplar.labels["span_id"] for exemplar in exemplars.values()}
    assert len(span_ids) == 1  # the server span of that request
    assert span_ids != {"1" * 16}
