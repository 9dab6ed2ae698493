"""Fault injection: switches the drill flips to break one dependency at a time.

The admin router exists only when ``ORDERS_FAULTS=1``; without it the endpoints are not even
routed, so a production deployment cannot reach them by accident.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class Faults:
    """Current fault switches; all off by default."""

    s3_failure_ratio: float = 0.0  # share of S3 calls answered with 503
    db_delay: float = 0.0  # seconds added to each database call
    pool_holders: int = 0  # connections held hostage by background threads
    broker_down: bool = False  # publishing fails (relay cannot reach the broker)
    consumer_fail: bool = False  # the consumer's handler raises
    breaker_open: bool = False  # force the S3 breaker open
    drop_connections: bool = False  # the database resets a pooled connection (one-shot)

    def update(self, changes: dict[str, Any]) -> None:
        allowed = {f.name: f.type for f in fields(self)}
        for key, value in changes.items():
            if key not in allowed:
                msg = f"unknown fault {key!r}; known: {sorted(allowed)}"
                raise ValueError(msg)
            setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def s3_should_fail(self) -> bool:
        return self.s3_failure_ratio > 0 and random.random() < self.s3_failure_ratio


class PoolHostage:
    """Tasks that check out connections and hold them, to exhaust the pool."""

    def __init__(self) -> None:
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def hold(self, engine: Any, count: int) -> None:
        await self.release()
        self._stop = asyncio.Event()
        stop = self._stop

        async def hostage() -> None:
            try:
                async with engine.connect():
                    await stop.wait()
            except Exception:
                logging.getLogger("orders.faults").info("a pool hostage could not get a connection")

        self._tasks = [asyncio.create_task(hostage()) for _ in range(count)]
        await asyncio.sleep(0.1)  # let them check out before the drill sends traffic

    async def release(self) -> None:
        self._stop.set()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        self._tasks = []
