"""Fixtures for the outbox and DLQ tests: real PostgreSQL and RabbitMQ (uniquely named tables,
exchanges and queues, dropped afterwards), a TCP proxy to cut the broker off, log capture."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from outbox_support import AMQP, PG_ASYNC, Db, TcpProxy, Topology

from telemetry.testing import json_logs
from tests.conftest import port_open, require


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
async def db(uid: str) -> AsyncIterator[Db]:
    """An async engine on PostgreSQL with a fresh outbox table and orders table."""
    require(port_open("127.0.0.1", 5432), "PostgreSQL on 127.0.0.1:5432")
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    from telemetry.outbox import outbox_table

    metadata = sa.MetaData()
    outbox = outbox_table(metadata, f"outbox_{uid}")
    orders = sa.Table(
        f"orders_{uid}", metadata, sa.Column("id", sa.String(64), primary_key=True), sa.Column("item", sa.String(64))
    )
    engine = create_async_engine(PG_ASYNC, pool_size=5)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield Db(engine, outbox, orders)
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
        await engine.dispose()


@pytest.fixture
async def rabbit(uid: str) -> AsyncIterator[Topology]:
    """An exchange, a quorum work queue dead-lettering into a DLX, and its DLQ; all deleted after."""
    require(port_open("127.0.0.1", 5672), "RabbitMQ on 127.0.0.1:5672")
    import aio_pika

    connection = await aio_pika.connect(AMQP)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(f"t{uid}.orders", aio_pika.ExchangeType.DIRECT)
    dlx = await channel.declare_exchange(f"t{uid}.dlx", aio_pika.ExchangeType.DIRECT)
    work = await channel.declare_queue(
        f"t{uid}.order.created",
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": dlx.name,
            "x-dead-letter-routing-key": "order.created.failed",
        },
    )
    await work.bind(exchange, "order.created")
    dlq = await channel.declare_queue(f"t{uid}.order.created.dlq", durable=True)
    await dlq.bind(dlx, "order.created.failed")
    try:
        yield Topology(connection, channel, exchange.name, work.name, dlq.name)
    finally:
        cleanup = await connection.channel()
        for name in (work.name, dlq.name):
            await cleanup.queue_delete(name)
        for name in (exchange.name, dlx.name):
            await cleanup.exchange_delete(name)
        await connection.close()


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    require(port_open("127.0.0.1", 5672), "RabbitMQ on 127.0.0.1:5672")
    found = TcpProxy(("127.0.0.1", 5672))
    await found.start()
    try:
        yield found
    finally:
        await found.stop()


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """JSON log lines (structlog and stdlib) written to a buffer; configuration undone after."""
    with json_logs(service="orders", level=logging.INFO) as logs:
        yield logs.stream
