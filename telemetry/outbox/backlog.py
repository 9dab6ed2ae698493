"""The outbox backlog at scrape time: pending and failed rows and the oldest pending row's age.

One grouped query per refresh (``status IN (pending, failed) GROUP BY status`` with
``min(created_at)``, served by an index on ``(status, created_at)``), bounded by a statement
timeout on PostgreSQL and by the scrape wait everywhere. When the database is slow or down the
last reading is served with ``resilience_outbox_backlog_stale = 1``; the oldest-pending age is
computed at scrape time from the cached timestamp, so it keeps growing during an outage.

:func:`watch_outbox` serves any number of tables from one collector per registry (each with
its ``outbox_table`` label); watching a table again is a no-op and :func:`unwatch_outbox`
removes its series.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from telemetry import catalog
from telemetry.metrics import family
from telemetry.outbox.table import FAILED, PENDING
from telemetry.reading import CachedReading, unwatch, watch

if TYPE_CHECKING:
    from collections.abc import Iterator

    from telemetry.bootstrap import Telemetry

__all__ = ["BacklogReading", "OutboxBacklogCollector", "unwatch_outbox", "watch_outbox"]

_KIND = "outbox"


@dataclass(frozen=True, slots=True)
class BacklogReading:
    pending: int
    failed: int
    oldest_pending: float | None  # Unix time of the oldest pending row's creation


def _timestamp(value: object) -> float | None:
    if isinstance(value, datetime):
        return (value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(value, str):  # SQLite without type affinity hands back text
        return _timestamp(datetime.fromisoformat(value))
    return None


class OutboxBacklogCollector:
    """A prometheus-client collector reading the user's outbox table.

    Args:
        engine: a synchronous SQLAlchemy ``Engine`` or a database URL (then a one-connection
            engine is made). Async apps pass a sync URL for the same database
            (``postgresql+psycopg://...``): the read runs in its own thread.
        table, schema, status_column, created_column: where the rows are.
        pending, failed: the status values counted.
        timeout: the longest a scrape waits (also the PostgreSQL statement timeout).
        min_interval: reads start at most this often; scrapes in between reuse the value.
    """

    def __init__(
        self,
        engine: Any,
        *,
        table: str = "outbox",
        schema: str | None = None,
        status_column: str = "status",
        created_column: str = "created_at",
        pending: str = PENDING,
        failed: str = FAILED,
        timeout: float = 2.0,
        min_interval: float = 5.0,
    ) -> None:
        try:
            import sqlalchemy as sa
        except ImportError as exc:
            msg = "the outbox backlog collector needs: pip install 'resilience-telemetry[sqlalchemy]'"
            raise ImportError(msg) from exc
        owns_engine = isinstance(engine, str)
        if isinstance(engine, str):
            engine = sa.create_engine(engine, pool_size=1, max_overflow=0, pool_pre_ping=True)
        if not isinstance(engine, sa.Engine):
            msg = "pass a synchronous Engine or a URL (for an AsyncEngine, the same database's sync URL)"
            raise TypeError(msg)
        self._owns_engine = owns_engine
        self.engine = engine
        self.table = table if schema is None else f"{schema}.{table}"
        self.pending, self.failed = pending, failed
        rows = sa.table(table, sa.column(status_column), sa.column(created_column), schema=schema)
        status, created = rows.c[status_column], rows.c[created_column]
        self._query = (
            sa.select(status, sa.func.count(), sa.func.min(created))
            .where(status.in_([pending, failed]))
            .group_by(status)
        )
        self._timeout_ms = max(1, int(timeout * 1000))
        self.reading: CachedReading[BacklogReading] = CachedReading(
            self.read, timeout=timeout, min_interval=min_interval, what=f"outbox backlog ({self.table})"
        )

    def read(self) -> BacklogReading:
        """Run the backlog query now (blocking)."""
        import sqlalchemy as sa

        counts: dict[str, int] = {}
        oldest: float | None = None
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.set_config("statement_timeout", str(self._timeout_ms), True)))  # noqa: FBT003
            for status, count, first in conn.execute(self._query):
                counts[status] = int(count)
                if status == self.pending:
                    oldest = _timestamp(first)
        return BacklogReading(counts.get(self.pending, 0), counts.get(self.failed, 0), oldest)

    def describe(self) -> list[Any]:
        # Names only: registering must not run the query.
        return _describe()

    def collect(self) -> Iterator[Any]:
        value, stale = self.reading.get()
        stale_family = family(catalog.OUTBOX_BACKLOG_STALE)
        stale_family.add_metric([self.table], 1.0 if stale else 0.0)
        if value is not None:
            rows = family(catalog.OUTBOX_ROWS)
            rows.add_metric([self.table, "pending"], value.pending)
            rows.add_metric([self.table, "failed"], value.failed)
            age = family(catalog.OUTBOX_OLDEST_PENDING_AGE)
            oldest = value.oldest_pending
            age.add_metric([self.table], 0.0 if oldest is None else max(0.0, time.time() - oldest))
            yield rows
            yield age
        yield stale_family

    def close(self) -> None:
        """Let a read in flight finish, then free the engine if this collector made it."""
        self.reading.wait_idle(self.reading.timeout)
        if self._owns_engine:
            self.engine.dispose()


def _describe() -> list[Any]:
    return [
        family(catalog.OUTBOX_ROWS),
        family(catalog.OUTBOX_OLDEST_PENDING_AGE),
        family(catalog.OUTBOX_BACKLOG_STALE),
    ]


def _qualified(table: str, schema: str | None) -> str:
    return table if schema is None else f"{schema}.{table}"


def watch_outbox(
    engine: Any,
    *,
    telemetry: Telemetry | None = None,
    table: str = "outbox",
    schema: str | None = None,
    **options: Any,
) -> OutboxBacklogCollector:
    """Export the backlog of ``table`` from the set-up's registry and return its collector
    (``options`` as for :class:`OutboxBacklogCollector`).

    Every watched table of a registry is served by one collector, one ``outbox_table`` series
    each; watching a table that is already watched returns its collector and changes nothing.
    """
    name = _qualified(table, schema)

    def make(_names: list[str]) -> OutboxBacklogCollector:
        return OutboxBacklogCollector(engine, table=table, schema=schema, **options)

    return watch(_KIND, telemetry, [name], make, label="outbox_table", describe=_describe)[name]


def unwatch_outbox(table: str = "outbox", *, schema: str | None = None, telemetry: Telemetry | None = None) -> bool:
    """Stop exporting ``table``'s backlog (its series leave ``/metrics``); ``False`` if it was
    not watched. An engine the collector made from a URL is disposed."""
    return bool(unwatch(_KIND, telemetry, [_qualified(table, schema)]))
