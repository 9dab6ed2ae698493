"""Helpers shared by the outbox and DLQ tests (constants, waits, a TCP proxy, log parsing)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from dataclasses import dataclass
from typing import Any

import pytest

PG_SYNC = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_ASYNC = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
AMQP = "amqp://guest:guest@127.0.0.1:5672/"


@dataclass
class Db:
    engine: Any
    outbox: Any
    orders: Any


@dataclass
class Topology:
    connection: Any
    channel: Any
    exchange: str
    queue: str
    dlq: str

    @property
    def destination(self) -> str:
        return f"{self.exchange}:order.created"


async def queue_depth(topology: Topology, name: str) -> int:
    channel = await topology.connection.channel()
    try:
        queue = await channel.declare_queue(name, passive=True)
        return int(queue.declaration_result.message_count or 0)
    finally:
        await channel.close()


async def eventually(check: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Await ``check()`` until it returns something truthy; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            pytest.fail(f"condition not met within {timeout}s (last: {result!r})")
        await asyncio.sleep(interval)


class TcpProxy:
    """A local TCP proxy to RabbitMQ; ``stop()`` cuts every connection and refuses new ones."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        await asyncio.sleep(0.05)


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


class RaisingSink:
    sink_name = "log"

    def __call__(self, event: Any) -> None:
        raise RuntimeError("sink down")
