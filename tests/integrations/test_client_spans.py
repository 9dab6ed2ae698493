"""Traces that show where a request failed: query spans (real PostgreSQL) and S3 spans (moto), children
of the request's server span, with their semantic-convention attributes."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

import telemetry
from telemetry.integrations.botocore import instrument_client, uninstrument_client
from telemetry.integrations.sqlalchemy import instrument_engine, uninstrument_engine
from telemetry.testing import in_memory_tracer
from tests.integrations.pool_support import FaultProxy, pg_url, s3_client

pytest.importorskip("sqlalchemy")
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

TABLE = f"s_pf_orders_{uuid.uuid4().hex[:8]}"
MISSING = f"s_pf_missing_{uuid.uuid4().hex[:8]}"
DB_ATTRIBUTES = {
    "db.system": "postgresql",
    "db.name": "test",
    "db.user": "postgres",
    # setup() opts in to the stable HTTP conventions, which also name the peer server.*
    "server.address": "127.0.0.1",
    "server.port": 5432,
}


def spans_by_name(exporter: Any) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for span in exporter.get_finished_spans():
        found.setdefault(span.name, []).append(span)
    return found


def children(exporter: Any, parent: Any) -> list[Any]:
    """Spans whose parent is ``parent``, in start order."""
    return sorted(
        (
            s
            for s in exporter.get_finished_spans()
            if s.parent is not None and s.parent.span_id == parent.context.span_id
        ),
        key=lambda s: s.start_time,
    )


def view(span: Any) -> dict[str, Any]:
    """What a trace view shows of a span: name, kind, status, attributes, event names."""
    return {
        "name": span.name,
        "kind": span.kind.name,
        "status": span.status.status_code.name,
        "description": span.status.description,
        "attributes": dict(span.attributes or {}),
        "events": [event.name for event in span.events],
    }


@pytest.fixture
def app_for() -> Iterator[Callable[..., tuple[FastAPI, Any]]]:
    """``make(engine=..., **instrument_options)``: a FastAPI app instrumented with an in-memory tracer."""

    def make(**options: Any) -> tuple[FastAPI, Any]:
        provider, exporter = in_memory_tracer()
        app = FastAPI()
        telemetry.instrument(
            app, registry=CollectorRegistry(), tracer_provider=provider, service_name="orders", **options
        )
        return app, exporter

    return make


async def call(app: FastAPI, *paths: str) -> list[int]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return [(await client.get(path)).status_code for path in paths]


@pytest.fixture
def pg_table(postgres: None) -> Iterator[str]:
    admin = sa.create_engine(pg_url(), poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {TABLE} (id int PRIMARY KEY, item text NOT NULL)"))
        conn.execute(sa.text(f"INSERT INTO {TABLE} VALUES (7, 'tea')"))
    yield TABLE
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {TABLE}"))
    admin.dispose()


@pytest.fixture
def sync_engine(pg_table: str) -> Iterator[Any]:
    engine = sa.create_engine(pg_url())
    yield engine
    uninstrument_engine(engine)
    engine.dispose()


def add_routes(app: FastAPI, engine: Any) -> None:
    is_async = hasattr(engine, "sync_engine")

    if is_async:

        @app.get("/orders/{order_id}")
        async def read(order_id: int) -> dict[str, Any]:
            async with engine.connect() as conn:
                row = (await conn.execute(sa.text(f"SELECT item FROM {TABLE} WHERE id = :id"), {"id": order_id})).one()
            return {"item": row.item}

        @app.get("/broken")
        async def broken() -> None:
            async with engine.connect() as conn:
                await conn.execute(sa.text(f"SELECT item FROM {MISSING} WHERE secret = 'hunter2'"))

    else:

        @app.get("/orders/{order_id}")
        def read_sync(order_id: int) -> dict[str, Any]:
            with engine.connect() as conn:
                row = conn.execute(sa.text(f"SELECT item FROM {TABLE} WHERE id = :id"), {"id": order_id}).one()
            return {"item": row.item}

        @app.get("/broken")
        def broken_sync() -> None:
            with engine.connect() as conn:
                conn.execute(sa.text(f"SELECT item FROM {MISSING} WHERE secret = 'hunter2'"))


@pytest.mark.services
@pytest.mark.parametrize("flavour", ["async", "sync"])
async def test_query_spans_are_children_of_the_server_span(
    flavour: str, pg_table: str, app_for: Callable[..., tuple[FastAPI, Any]]
) -> None:
    """telemetry.instrument(app, engine=engine) on PostgreSQL (asyncpg and psycopg): each statement is a CLIENT
    span under the request's server span; the failing one is ERROR with error.type and SQLSTATE, no message."""
    engine = create_async_engine(pg_url("asyncpg")) if flavour == "async" else sa.create_engine(pg_url())
    try:
        await check_query_spans(flavour, engine, app_for)
    finally:
        uninstrument_engine(engine)
        disposed = engine.dispose()
        if flavour == "async":
            await disposed


async def check_query_spans(flavour: str, engine: Any, app_for: Callable[..., tuple[FastAPI, Any]]) -> None:
    app, exporter = app_for(engine=engine)
    add_routes(app, engine)
    assert await call(app, "/orders/7", "/broken") == [200, 500]
    servers = spans_by_name(exporter)
    [ok_server], [failed_server] = servers["GET /orders/{order_id}"], servers["GET /broken"]
    placeholder = "$1" if flavour == "async" else "%(id)s"
    database = "" if flavour == "async" else " test"  # contrib names asyncpg statements without the database
    driver_error = "UndefinedTableError" if flavour == "async" else "UndefinedTable"
    assert [view(span) for span in children(exporter, ok_server)] == [
        {
            "name": f"SELECT{database}",
            "kind": "CLIENT",
            "status": "UNSET",
            "description": None,
            "attributes": {
                **DB_ATTRIBUTES,
                "db.statement": f"SELECT item FROM {TABLE} WHERE id = {placeholder}",
                "db.operation": f"SELECT{database}",
            },
            "events": [],
        }
    ]
    assert [view(span) for span in children(exporter, failed_server)] == [
        {
            "name": f"SELECT{database}",
            "kind": "CLIENT",
            "status": "ERROR",
            "description": driver_error,
            "attributes": {
                **DB_ATTRIBUTES,
                "db.statement": f"SELECT item FROM {MISSING} WHERE secret = 'hunter2'",
                "db.operation": f"SELECT{database}",
                "error.type": driver_error,
                "db.response.status_code": "42P01",
            },
            "events": [],
        }
    ]
    assert ok_server.context.trace_id == children(exporter, ok_server)[0].context.trace_id


@pytest.mark.services
async def test_instrumenting_twice_gives_one_span_per_query_and_uninstrument_stops(
    sync_engine: Any, app_for: Callable[..., tuple[FastAPI, Any]]
) -> None:
    """A second instrument (telemetry.instrument and instrument_engine) adds no second span; after
    uninstrument_engine no statement is traced, and instrumenting again traces again."""
    app, exporter = app_for(engine=sync_engine)
    telemetry.instrument(app, engine=sync_engine)
    instrument_engine(sync_engine)
    add_routes(app, sync_engine)
    await call(app, "/orders/7")
    assert sorted(spans_by_name(exporter)) == ["GET /orders/{order_id}", "SELECT test"]
    assert len(spans_by_name(exporter)["SELECT test"]) == 1
    uninstrument_engine(sync_engine)
    exporter.clear()
    await call(app, "/orders/7")
    assert sorted(spans_by_name(exporter)) == ["GET /orders/{order_id}"]
    instrument_engine(sync_engine, tracer_provider=telemetry.setup().tracer_provider)
    exporter.clear()
    await call(app, "/orders/7")
    assert sorted(spans_by_name(exporter)) == ["GET /orders/{order_id}", "SELECT test"]


@pytest.mark.services
async def test_client_spans_false_keeps_pool_metrics_and_makes_no_query_span(
    sync_engine: Any, app_for: Callable[..., tuple[FastAPI, Any]]
) -> None:
    """telemetry.instrument(app, engine=engine, client_spans=False): the pool is instrumented, no query span."""
    from telemetry.integrations.sqlalchemy import is_instrumented

    app, exporter = app_for(engine=sync_engine, client_spans=False)
    add_routes(app, sync_engine)
    assert await call(app, "/orders/7") == [200]
    assert is_instrumented(sync_engine)
    assert sorted(spans_by_name(exporter)) == ["GET /orders/{order_id}"]


def test_an_engine_traced_by_the_contrib_instrumentor_is_not_traced_twice(sqlite_engine: Any) -> None:
    """SQLAlchemyInstrumentor(skip_dep_check=True) already traces the engine: instrument_engine adds no
    second span per statement, and uninstrument_engine leaves contrib's listeners alone."""
    contrib = pytest.importorskip("opentelemetry.instrumentation.sqlalchemy")
    provider, exporter = in_memory_tracer()
    engine = sqlite_engine()
    instrumentor = contrib.SQLAlchemyInstrumentor()
    instrumentor.instrument(engine=engine, tracer_provider=provider, skip_dep_check=True)
    try:
        instrument_engine(engine, tracer_provider=provider)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        database = engine.url.database
        assert sorted(span.name for span in exporter.get_finished_spans()) == [f"SELECT {database}", "connect"]
        uninstrument_engine(engine)
        exporter.clear()
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        assert sorted(span.name for span in exporter.get_finished_spans()) == [f"SELECT {database}", "connect"]
    finally:
        instrumentor.uninstrument()


def test_a_checkout_that_times_out_is_a_failed_pool_checkout_span(sqlite_engine: Any) -> None:
    """An exhausted pool: the waiting checkout is a `pool checkout` span under the request span, ERROR with
    error.type=TimeoutError, carrying the timeout event (the exhaustion event that started the wait stays on
    the request span); a checkout that needs no wait makes no span."""
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    provider, exporter = in_memory_tracer()
    tracer = provider.get_tracer("test")
    engine = sqlite_engine(pool_size=1, max_overflow=0, pool_timeout=0.05)
    instrument_engine(engine, pool_name="orders", tracer_provider=provider)
    with engine.connect() as held, tracer.start_as_current_span("GET /orders/{order_id}") as server:
        held.execute(sa.text("SELECT 1"))
        with pytest.raises(PoolTimeout):
            engine.connect()
    database = engine.url.database
    assert [view(span) for span in children(exporter, server)] == [
        {
            "name": f"SELECT {database}",
            "kind": "CLIENT",
            "status": "UNSET",
            "description": None,
            "attributes": {
                "db.system": "sqlite",
                "db.name": database,
                "db.statement": "SELECT 1",
                "db.operation": f"SELECT {database}",
            },
            "events": [],
        },
        {
            "name": "pool checkout",
            "kind": "INTERNAL",
            "status": "ERROR",
            "description": "TimeoutError",
            "attributes": {
                "db.client.connection.pool.name": "orders",
                "db.pool.checked_out": 1,
                "error.type": "TimeoutError",
            },
            "events": ["telemetry.pool.timed_out"],
        },
    ]
    [finished_server] = spans_by_name(exporter)["GET /orders/{order_id}"]
    assert [event.name for event in finished_server.events] == ["telemetry.pool.exhausted"]


# --- S3 through botocore, against moto ---------------------------------------------------------
@pytest.fixture(autouse=True)
def _instant_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's standard retry mode sleeps between attempts; tests do not wait for it."""
    from botocore.retries import standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda _self, _context: 0.001)


def s3_attributes(proxy: FaultProxy, operation: str) -> dict[str, Any]:
    host, port = proxy.url.removeprefix("http://").split(":")
    return {
        "rpc.system": "aws-api",
        "rpc.service": "S3",
        "rpc.method": operation,
        "cloud.region": "us-east-1",
        "server.address": host,
        "server.port": int(port),
    }


async def test_s3_operations_are_client_spans_under_the_server_span(
    fault_proxy: FaultProxy, app_for: Callable[..., tuple[FastAPI, Any]]
) -> None:
    """An instrumented client inside a request: one CLIENT span per operation, under the server span, named
    S3.<Operation> with rpc.*/aws.* attributes; the failed PutObject (503 SlowDown after botocore's retry) is
    ERROR with error.type=SlowDown, carries the failure event, and names neither the key nor the message."""
    app, exporter = app_for()
    client = instrument_client(
        s3_client(fault_proxy.url, attempts=2), tracer_provider=telemetry.setup().tracer_provider
    )
    bucket = f"s-pf-{uuid.uuid4().hex[:12]}"

    @app.get("/receipts")
    def receipts() -> dict[str, str]:
        client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key="receipts/secret-key.txt", Body=b"ok")
        fault_proxy.plan = [(503, "SlowDown"), (503, "SlowDown")]
        client.put_object(Bucket=bucket, Key="receipts/secret-key.txt", Body=b"again")
        return {"never": "reached"}

    assert await call(app, "/receipts") == [500]
    [server] = spans_by_name(exporter)["GET /receipts"]
    spans = children(exporter, server)
    ids = [span.attributes.get("aws.request_id") for span in spans]
    assert all(ids[:2]), ids  # moto's answers carry a request id; the injected 503s do not
    assert [view(span) for span in spans] == [
        {
            "name": "S3.CreateBucket",
            "kind": "CLIENT",
            "status": "UNSET",
            "description": None,
            "attributes": {
                **s3_attributes(fault_proxy, "CreateBucket"),
                "aws.s3.bucket": bucket,
                "aws.request_id": ids[0],
                "http.response.status_code": 200,
            },
            "events": [],
        },
        {
            "name": "S3.PutObject",
            "kind": "CLIENT",
            "status": "UNSET",
            "description": None,
            "attributes": {
                **s3_attributes(fault_proxy, "PutObject"),
                "aws.s3.bucket": bucket,
                "aws.request_id": ids[1],
                "http.response.status_code": 200,
            },
            "events": [],
        },
        {
            "name": "S3.PutObject",
            "kind": "CLIENT",
            "status": "ERROR",
            "description": "SlowDown",
            "attributes": {
                **s3_attributes(fault_proxy, "PutObject"),
                "aws.s3.bucket": bucket,
                "http.response.status_code": 503,
                "error.type": "SlowDown",
            },
            "events": ["telemetry.dependency.failed"],
        },
    ]
    text = repr([(dict(span.attributes or {}), span.status.description, span.events) for span in spans])
    assert "secret-key" not in text
    assert "injected by the test" not in text  # the S3 error message


def test_an_operation_without_an_answer_is_a_failed_span_with_the_exception_class() -> None:
    """A closed port: the span is ERROR with error.type=EndpointConnectionError and no HTTP status."""
    import socket

    from botocore.exceptions import EndpointConnectionError

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider, exporter = in_memory_tracer()
    client = instrument_client(s3_client(f"http://127.0.0.1:{port}"), tracer_provider=provider)
    with pytest.raises(EndpointConnectionError):
        client.list_buckets()
    assert [view(span) for span in exporter.get_finished_spans()] == [
        {
            "name": "S3.ListBuckets",
            "kind": "CLIENT",
            "status": "ERROR",
            "description": "EndpointConnectionError",
            "attributes": {
                "rpc.system": "aws-api",
                "rpc.service": "S3",
                "rpc.method": "ListBuckets",
                "cloud.region": "us-east-1",
                "server.address": "127.0.0.1",
                "server.port": port,
                "error.type": "EndpointConnectionError",
            },
            "events": ["telemetry.dependency.failed"],
        }
    ]


def test_s3_spans_once_when_instrumented_twice_none_with_client_spans_false_or_after_uninstrument(
    fault_proxy: FaultProxy,
) -> None:
    """instrument_client twice: one span per call; client_spans=False: counted, no span; uninstrument: neither."""
    from telemetry.testing import capture

    provider, exporter = in_memory_tracer()
    client = s3_client(fault_proxy.url)
    instrument_client(client, tracer_provider=provider)
    instrument_client(client, tracer_provider=provider)
    client.list_buckets()
    assert [span.name for span in exporter.get_finished_spans()] == ["S3.ListBuckets"]
    uninstrument_client(client)
    exporter.clear()
    quiet = instrument_client(s3_client(fault_proxy.url), client_spans=False, tracer_provider=provider)
    with capture() as cap:
        quiet.list_buckets()
        client.list_buckets()
        assert (
            cap.sample(
                "resilience_dependency_operations_total", dependency="s3", operation="ListBuckets", outcome="success"
            )
            == 1.0
        )
    assert exporter.get_finished_spans() == ()
