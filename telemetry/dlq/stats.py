"""Dead-letter queue depth and oldest-message age, read off the scrape path."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telemetry import catalog
from telemetry.metrics import family
from telemetry.reading import CachedReading

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["DeadLetterQueueCollector", "QueueStats", "QueueStatsReader", "describe"]


@dataclass(frozen=True, slots=True)
class QueueStats:
    """A queue's depth and the Unix time its head message died (or was published), if known."""

    depth: int
    oldest: float | None = None


QueueStatsReader = Callable[[Sequence[str]], Mapping[str, QueueStats]]


def describe() -> list[Any]:
    """The three DLQ families, empty (names for ``describe()``; fresh ones per scrape)."""
    return [family(catalog.DLQ_DEPTH), family(catalog.DLQ_OLDEST_AGE), family(catalog.DLQ_STATS_STALE)]


class DeadLetterQueueCollector:
    """Depth, oldest-message age and a staleness flag per DLQ, read off the scrape path.

    ``read(queues)`` is any blocking reader (:func:`~telemetry.dlq.rabbitmq_queue_stats`, or the
    in-memory broker's ``queue_stats``); a scrape waits at most ``timeout`` and otherwise serves
    the last reading with ``resilience_dlq_stats_stale = 1``. Queues the reader did not find are
    left out.
    """

    def __init__(
        self,
        queues: Sequence[str],
        read: QueueStatsReader,
        *,
        timeout: float = 2.0,
        min_interval: float = 5.0,
    ) -> None:
        self.queues = tuple(queues)
        self.reading: CachedReading[Mapping[str, QueueStats]] = CachedReading(
            lambda: read(self.queues), timeout=timeout, min_interval=min_interval, what="dead-letter queue stats"
        )

    def describe(self) -> list[Any]:
        return describe()

    def collect(self) -> Iterator[Any]:
        value, stale = self.reading.get()
        depth, age, flag = describe()
        now = time.time()
        for queue in self.queues:
            flag.add_metric([queue], 1.0 if stale else 0.0)
            stats = (value or {}).get(queue)
            if stats is None:
                continue
            depth.add_metric([queue], stats.depth)
            oldest = stats.oldest if stats.depth else None
            age.add_metric([queue], 0.0 if oldest is None else max(0.0, now - oldest))
        yield depth
        yield age
        yield flag

    def close(self) -> None:
        """Let a read in flight finish (the reader holds no resources between reads)."""
        self.reading.wait_idle(self.reading.timeout)
