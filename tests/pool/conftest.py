"""Fixtures for the pool and dependency-call tests: SQLite and PostgreSQL engines, scrape helpers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from telemetry.integrations import sqlalchemy as pool_telemetry
from tests.conftest import port_open, require

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_NAME = f"{PG_HOST}:{PG_PORT}/test"
POOL = "db_client_connection_pool_name"


def pg_url(driver: str = "psycopg") -> str:
    return f"postgresql+{driver}://postgres@{PG_HOST}:{PG_PORT}/test"


def pool_view(cap: Any, name: str) -> dict[str, float | None]:
    """The scrape-time pool gauges for ``name``, as Prometheus would read them now."""
    return {
        "idle": cap.sample("db_client_connection_count", **{POOL: name, "db_client_connection_state": "idle"}),
        "used": cap.sample("db_client_connection_count", **{POOL: name, "db_client_connection_state": "used"}),
        "max": cap.sample("db_client_connection_max", **{POOL: name}),
        "idle_max": cap.sample("db_client_connection_idle_max", **{POOL: name}),
    }


def count(cap: Any, metric: str, name: str, **labels: str) -> float | None:
    return cap.sample(metric, **{POOL: name, **labels})


@pytest.fixture
def sqlite_engine(tmp_path: Any) -> Iterator[Any]:
    """A factory for file-backed SQLite engines on a QueuePool; disposed (and uninstrumented) after."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import QueuePool

    made: list[Any] = []

    def make(**options: Any) -> Any:
        options.setdefault("poolclass", QueuePool)
        engine = create_engine(f"sqlite:///{tmp_path / 'pool.db'}", **options)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        pool_telemetry.uninstrument_engine(engine)
        engine.dispose()


@pytest.fixture
def postgres() -> None:
    require(port_open(PG_HOST, PG_PORT), "PostgreSQL on 127.0.0.1:5432")


@pytest.fixture
def pg_schema(postgres: None) -> Iterator[str]:
    """A schema of the test's own in the `test` database, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    name = f"pool_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_url(), poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {name}"))
        conn.execute(text(f"CREATE TABLE {name}.holders (id serial PRIMARY KEY, holder int NOT NULL)"))
    yield name
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {name} CASCADE"))
    admin.dispose()


def terminate_backends(pids: list[int]) -> None:
    """Kill PostgreSQL backends from a separate connection, as a server restart would."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    admin = create_engine(pg_url(), poolclass=NullPool)
    with admin.connect() as conn:
        for pid in pids:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar() is True
    admin.dispose()
