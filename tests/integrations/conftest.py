"""Fixtures for the integration tests: SQLite and PostgreSQL engines, moto's S3, stamina hooks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from telemetry.integrations import sqlalchemy as pool_telemetry
from telemetry.testing import port_open
from telemetry.testing import require_service as require
from tests.integrations.pool_support import PG_HOST, PG_PORT, FaultProxy, pg_url


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


@pytest.fixture(scope="module")
def moto_server() -> Iterator[tuple[str, int]]:
    """moto's S3 in server mode on a loopback port, for the module."""
    pytest.importorskip("moto.server")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    yield server.get_host_and_port()
    server.stop()


@pytest.fixture
def fault_proxy(moto_server: tuple[str, int]) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto_server)
    yield proxy
    proxy.close()
