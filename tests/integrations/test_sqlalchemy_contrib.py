"""Coexistence with opentelemetry-instrumentation-sqlalchemy (query spans) on the installed SQLAlchemy."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from telemetry.integrations.sqlalchemy import instrument_engine
from telemetry.testing import capture
from tests.integrations.pool_support import POOL, count

sqlalchemy = pytest.importorskip("sqlalchemy")
contrib = pytest.importorskip("opentelemetry.instrumentation.sqlalchemy")
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from sqlalchemy import text  # noqa: E402

NAME = "contrib-db"
SA_21 = tuple(int(part) for part in sqlalchemy.__version__.split(".")[:2]) >= (2, 1)


@pytest.mark.skipif(not SA_21, reason="the dependency conflict exists only on SQLAlchemy >= 2.1")
def test_contrib_declines_sqlalchemy_2_1_without_skip_dep_check(sqlite_engine: Any, caplog: Any) -> None:
    """On SQLAlchemy 2.1 the contrib instrumentor (declared for < 2.1) logs a conflict and instruments nothing;
    our pool metrics do not depend on it."""
    engine = sqlite_engine()
    instrumentor = contrib.SQLAlchemyInstrumentor()
    with capture() as cap, caplog.at_level(logging.ERROR):
        result = instrumentor.instrument(engine=engine, tracer_provider=cap.tracer_provider)
        instrument_engine(engine, pool_name=NAME)
        with cap.tracer.start_as_current_span("request"), engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert result is None
        assert not instrumentor.is_instrumented_by_opentelemetry
        assert [message for message in caplog.messages if "SQLAlchemyInstrumentor" in message] == [
            (
                'SQLAlchemyInstrumentor only instruments "sqlalchemy >= 1.0.0, < 2.1.0", but currently installed '
                f'version ("sqlalchemy {sqlalchemy.__version__}") falls outside of that range, so nothing can be instrumented.'
            )
        ]
        assert [span.name for span in cap.spans()] == ["request"]
        assert count(cap, "db_client_connection_wait_time_seconds_count", NAME) == 1.0


def test_contrib_query_spans_and_our_pool_metrics_coexist(sqlite_engine: Any) -> None:
    """With skip_dep_check=True contrib adds query spans and its own OTel-side db.client.connections.usage;
    our Prometheus series stay single (no contrib name in our registry, no double counts)."""
    engine = sqlite_engine()
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    instrumentor = contrib.SQLAlchemyInstrumentor()
    with capture() as cap:
        instrumentor.instrument(
            engine=engine, tracer_provider=cap.tracer_provider, meter_provider=meter_provider, skip_dep_check=True
        )
        try:
            instrument_engine(engine, pool_name=NAME)
            with cap.tracer.start_as_current_span("request"), engine.connect() as conn:
                assert conn.execute(text("SELECT 1")).scalar() == 1
        finally:
            instrumentor.uninstrument()
        database = engine.url.database
        assert sorted(span.name for span in cap.spans()) == [f"SELECT {database}", "connect", "request"]
        assert count(cap, "db_client_connection_wait_time_seconds_count", NAME) == 1.0
        assert count(cap, "db_client_connection_use_time_seconds_count", NAME) == 1.0
        assert cap.series("db_client_connection_count") == [
            {POOL: NAME, "db_client_connection_state": "idle"},
            {POOL: NAME, "db_client_connection_state": "used"},
        ]
        ours = {metric.name for metric in cap.registry.collect()}
        assert not any(name.startswith("db_client_connections") for name in ours)
        data = reader.get_metrics_data()
        theirs = {
            metric.name
            for resource in (data.resource_metrics if data else [])
            for scope in resource.scope_metrics
            for metric in scope.metrics
        }
        assert theirs == {"db.client.connections.usage"}
