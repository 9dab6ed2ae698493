"""Dead-letter queue depth and oldest-message age, read off the scrape path.

:func:`watch_dead_letter_queues` serves any number of queues from one collector per registry
(one ``queue`` series each); queues watched again are left as they are, and
:func:`unwatch_dead_letter_queues` removes their series.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telemetry import catalog
from telemetry.metrics import family
from telemetry.reading import CachedReading, unwatch, watch

if TYPE_CHECKING:
    from collections.abc import Iterator

    from telemetry.bootstrap import Telemetry

__all__ = [
    "DeadLetterQueueCollector",
    "QueueStats",
    "QueueStatsReader",
    "unwatch_dead_letter_queues",
    "watch_dead_letter_queues",
]

_KIND = "dlq"


@dataclass(frozen=True, slots=True)
class QueueStats:
    """A queue's depth and the Unix time its head message died (or was published), if known."""

    depth: int
    oldest: float | None = None


QueueStatsReader = Callable[[Sequence[str]], Mapping[str, QueueStats]]


def _describe() -> list[Any]:
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
        return _describe()

    def collect(self) -> Iterator[Any]:
        value, stale = self.reading.get()
        depth, age, flag = _describe()
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


def _instruments(telemetry: Telemetry | None) -> Any:
    if telemetry is None:
        from telemetry.bootstrap import setup

        telemetry = setup()
    return telemetry.instruments


def watch_dead_letter_queues(
    queues: Sequence[str],
    *,
    url: str | None = None,
    read: QueueStatsReader | None = None,
    telemetry: Telemetry | None = None,
    timeout: float = 2.0,
    min_interval: float = 5.0,
) -> DeadLetterQueueCollector:
    """Export depth and age of ``queues`` (RabbitMQ at ``url``, or any ``read``er) from the
    set-up's registry and return the collector that reads the first of them.

    Queues already watched in that registry keep their reader; the new ones share one new
    reader (one broker round trip per scrape for all of them). Every queue of a registry is
    served by one collector, so two calls give two ``queue`` series, never a registry clash.
    """
    if read is None:
        if url is None:
            msg = "pass url= (RabbitMQ) or read= (another broker)"
            raise ValueError(msg)
        from telemetry.dlq.rabbitmq import rabbitmq_queue_stats

        read = rabbitmq_queue_stats(url, timeout=timeout)
    reader = read

    def make(names: list[str]) -> DeadLetterQueueCollector:
        return DeadLetterQueueCollector(names, reader, timeout=timeout, min_interval=min_interval)

    if not queues:
        msg = "watch_dead_letter_queues needs at least one queue"
        raise ValueError(msg)
    sources = watch(_KIND, _instruments(telemetry), queues, make, label="queue", describe=_describe)
    return sources[queues[0]]


def unwatch_dead_letter_queues(queues: Sequence[str], *, telemetry: Telemetry | None = None) -> list[str]:
    """Stop exporting ``queues`` (their series leave ``/metrics``); returns those that were watched."""
    return unwatch(_KIND, _instruments(telemetry), queues)
