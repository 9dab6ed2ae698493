"""Fault injection: switches the drill flips to break one dependency at a time.

The admin router exists only when ``ORDERS_FAULTS=1``; without it the endpoints are not even
routed, so a production deployment cannot reach them by accident.
"""

from __future__ import annotations

import random
import threading
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
    """Background threads that check out connections and hold them, to exhaust the pool."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def hold(self, engine: Any, count: int) -> None:
        self.release()
        self._stop = threading.Event()
        stop = self._stop

        def hostage() -> None:
            try:
                with engine.connect():
                    stop.wait()
            except Exception:
                pass

        self._threads = [threading.Thread(target=hostage, daemon=True) for _ in range(count)]
        for thread in self._threads:
            thread.start()

    def release(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
