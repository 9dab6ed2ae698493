"""Watching dead-letter queues: which queues a registry exports, idempotently.

:func:`watch_dead_letter_queues` serves any number of queues from one collector per registry
(one ``queue`` series each); queues watched again are left as they are, and
:func:`unwatch_dead_letter_queues` removes their series.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemetry.dlq.rabbitmq import rabbitmq_queue_stats
from telemetry.dlq.stats import DeadLetterQueueCollector, describe
from telemetry.reading import unwatch, watch

if TYPE_CHECKING:
    from collections.abc import Sequence

    from telemetry.bootstrap import Telemetry
    from telemetry.dlq.stats import QueueStatsReader

__all__ = ["unwatch_dead_letter_queues", "watch_dead_letter_queues"]

_KIND = "dlq"


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
        read = rabbitmq_queue_stats(url, timeout=timeout)
    reader = read

    def make(names: list[str]) -> DeadLetterQueueCollector:
        return DeadLetterQueueCollector(names, reader, timeout=timeout, min_interval=min_interval)

    if not queues:
        msg = "watch_dead_letter_queues needs at least one queue"
        raise ValueError(msg)
    sources = watch(_KIND, telemetry, queues, make, label="queue", describe=describe)
    return sources[queues[0]]


def unwatch_dead_letter_queues(queues: Sequence[str], *, telemetry: Telemetry | None = None) -> list[str]:
    """Stop exporting ``queues`` (their series leave ``/metrics``); returns those that were watched."""
    return unwatch(_KIND, telemetry, queues)
