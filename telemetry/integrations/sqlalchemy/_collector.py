"""The scrape-time pool gauges: count{idle,used}, max and idle.max, read from the pools themselves."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from telemetry import catalog
from telemetry.metrics import family

if TYPE_CHECKING:
    from collections.abc import Iterator

    from telemetry.metrics import Instruments

__all__ = ["PoolCollector", "PoolReading", "PoolSource", "collector_for"]


class PoolReading(NamedTuple):
    """One pool's numbers at scrape time; ``max_overflow`` -1 means no limit."""

    name: str
    idle: int
    used: int
    size: int
    max_overflow: int


class PoolSource(Protocol):
    """Anything that can read its pool at scrape time (an instrumented engine's state)."""

    def reading(self) -> PoolReading | None:
        """The pool's numbers now, with the admitted pool-name label; ``None`` if gone."""


class PoolCollector:
    """Scrape-time pool gauges for every engine bound to one registry."""

    def __init__(self) -> None:
        self.states: weakref.WeakSet[PoolSource] = weakref.WeakSet()

    def describe(self) -> list[Any]:
        return self._families()

    def _families(self) -> list[Any]:
        return [
            family(catalog.DB_CLIENT_CONNECTION_COUNT),
            family(catalog.DB_CLIENT_CONNECTION_MAX),
            family(catalog.DB_CLIENT_CONNECTION_IDLE_MAX),
        ]

    def collect(self) -> Iterator[Any]:
        # Engines given the same name are one logical pool: their readings add up.
        totals: dict[str, list[int]] = {}
        for state in list(self.states):
            reading = state.reading()
            if reading is None:
                continue
            name, idle, used, size, overflow = reading
            total = totals.setdefault(name, [0, 0, 0, 0])
            total[0] += idle
            total[1] += used
            total[2] += size
            # max_overflow=-1 (or pool_size=0) sets no limit: then there is no max to report.
            total[3] = -1 if overflow < 0 or size == 0 or total[3] < 0 else total[3] + size + overflow
        count, maximum, idle_max = self._families()
        for name, (idle, used, size, most) in totals.items():
            count.add_metric([name, "idle"], idle)
            count.add_metric([name, "used"], used)
            idle_max.add_metric([name], size)
            if most >= 0:
                maximum.add_metric([name], most)
        yield count
        yield maximum
        yield idle_max


_collectors: weakref.WeakKeyDictionary[Instruments, PoolCollector] = weakref.WeakKeyDictionary()


def collector_for(instruments: Instruments) -> PoolCollector:
    """The one pool collector of ``instruments``' registry, registered there on first use."""
    found = _collectors.get(instruments)
    if found is None:
        found = _collectors[instruments] = PoolCollector()
        instruments.register(found)
    return found
