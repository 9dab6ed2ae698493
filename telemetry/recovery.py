"""Recovery jobs: work parked while a dependency is down, and the runs that drain it.

Seed 003's case is the model: while the blockchain network is unreachable, deposits are saved
with status ``PENDING_NETWORK_RECOVERY``; when it returns, a job processes them in batches.

Usage::

    import telemetry

    deposits = telemetry.recovery_job("deposits", dependency="blockchain")
    telemetry.watch_recovery_backlog(sync_engine, name="deposits", table="deposits",
                                     parked=("PENDING_NETWORK_RECOVERY",))

    deposits.dependency_lost()                    # the network went away
    deposits.parked()                             # a deposit was set to PENDING_NETWORK_RECOVERY

    deposits.dependency_returned()                # it is back: drain the parked work
    async with deposits.run() as run:             # or `with deposits.run() as run:`
        for deposit in batch:
            try:
                await confirm(deposit)
            except ChainError as exc:
                run.failed(error=exc)             # stays parked, the run goes on
            else:
                run.recovered()

How much is parked, and the oldest parked item's age, are read from the service's own table
when Prometheus scrapes (``resilience_recovery_backlog``, ``..._oldest_parked_age_seconds``),
like the outbox backlog: the query runs off the scrape path and a slow or failing database
serves the last reading. A run ends as ``success`` (all recovered), ``partial`` (some items
failed) or ``failure`` (the run raised); runs and items by outcome exist at zero from the job's
creation, the dependency flag from its first report.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final, final

from telemetry import catalog
from telemetry._handles import current_instruments, named
from telemetry.containment import contained
from telemetry.events.recovery import (
    RecoveryDependencyLost,
    RecoveryDependencyReturned,
    RecoveryRunCompleted,
    RecoveryRunCompletedWithFailures,
    RecoveryRunFailed,
    WorkParked,
)
from telemetry.labels import clean
from telemetry.metrics import family
from telemetry.reading import CachedReading, unwatch, watch
from telemetry.recorder import record

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from types import TracebackType

    from telemetry.bootstrap import Telemetry
    from telemetry.metrics import Instruments

__all__ = [
    "PENDING_NETWORK_RECOVERY",
    "RecoveryBacklogCollector",
    "RecoveryJob",
    "RecoveryRun",
    "recovery_job",
    "unwatch_recovery_backlog",
    "watch_recovery_backlog",
]

#: seed 003's status for deposits waiting for the network; the collector's default
PENDING_NETWORK_RECOVERY: Final = "PENDING_NETWORK_RECOVERY"
_KIND: Final = "telemetry.recovery"
_WATCH: Final = "recovery"


class RecoveryJob:
    """Telemetry for one recovery path (parked work and the job draining it), by name.

    Get it with :func:`recovery_job`. The handle remembers whether the dependency was last
    reported up or down, so repeated reports record one change, not one per check.
    """

    __slots__ = ("_available", "_bound", "_lock", "dependency", "name")

    def __init__(self, name: str, dependency: str = "") -> None:
        self.name = name
        self.dependency = dependency
        self._lock = threading.Lock()
        self._available: bool | None = None
        self._bound: Instruments | None = None

    def __repr__(self) -> str:
        return f"<RecoveryJob {self.name!r} dependency={self.dependency!r}>"

    def _bind(self) -> Instruments:
        instruments = current_instruments()
        if self._bound is not instruments:
            with self._lock:
                label = instruments.admit(catalog.RECOVERY_NAME, self.name)
                for outcome in catalog.RECOVERY_OUTCOMES:
                    instruments.child(catalog.RECOVERY_RUNS, label, outcome)
                for outcome in ("recovered", "failed"):
                    instruments.child(catalog.RECOVERY_ITEMS, label, outcome)
                instruments.child(catalog.RECOVERY_PARKED, label)
                instruments.child(catalog.RECOVERY_RUN_DURATION, label)
                instruments.child(catalog.RECOVERY_DEPENDENCY_RETURNS, label)
                if self._available is not None:
                    instruments.set(catalog.RECOVERY_DEPENDENCY_AVAILABLE, 1 if self._available else 0, label)
                self._bound = instruments
        return instruments

    @property
    def dependency_available(self) -> bool | None:
        """The dependency's state as last reported (``None`` before the first report)."""
        return self._available

    def parked(self, count: int = 1, *, reason: str = "") -> None:
        """``count`` items were parked for later (``reason``: a short bounded word)."""
        try:
            self._bind()
            record(WorkParked(recovery=self.name, count=count, reason=reason))
        except Exception:
            contained("parked work")

    def _dependency(self, *, available: bool) -> bool:
        with self._lock:
            changed = self._available is not available
            self._available = available
        return changed

    def dependency_lost(self) -> None:
        """The dependency the parked work waits for is down (repeats are ignored)."""
        try:
            self._bind()
            if self._dependency(available=False):
                record(RecoveryDependencyLost(recovery=self.name, dependency=self.dependency))
        except Exception:
            contained("a recovery dependency change")

    def dependency_returned(self) -> None:
        """The dependency is back, the trigger for a recovery run (repeats are ignored)."""
        try:
            self._bind()
            if self._dependency(available=True):
                record(RecoveryDependencyReturned(recovery=self.name, dependency=self.dependency))
        except Exception:
            contained("a recovery dependency change")

    def run(self) -> RecoveryRun:
        """A context manager (``with`` or ``async with``) timing one run and reporting its outcome."""
        return RecoveryRun(self)

    def run_finished(self, *, recovered: int = 0, failed: int = 0, duration: float = 0.0) -> None:
        """A run ended: ``success`` when nothing ``failed``, ``partial`` otherwise."""
        try:
            self._bind()
            kind = RecoveryRunCompleted if failed == 0 else RecoveryRunCompletedWithFailures
            record(kind(recovery=self.name, recovered=recovered, failed=failed, duration=duration))
        except Exception:
            contained("a recovery run")

    def run_failed(
        self, error: BaseException | None = None, *, recovered: int = 0, failed: int = 0, duration: float = 0.0
    ) -> None:
        """The run itself failed with ``error`` after recovering ``recovered`` items."""
        try:
            self._bind()
            record(
                RecoveryRunFailed(
                    recovery=self.name, recovered=recovered, failed=failed, duration=duration, caused_by=error
                )
            )
        except Exception:
            contained("a recovery run")


@final
class RecoveryRun:
    """One run of a :class:`RecoveryJob`; count items with :meth:`recovered` and :meth:`failed`.

    Leaving the block normally reports ``success`` or ``partial``; an exception reports
    ``failure`` and propagates.
    """

    __slots__ = ("_job", "_started", "failed_items", "recovered_items")

    def __init__(self, job: RecoveryJob) -> None:
        self._job = job
        self._started = 0.0
        self.recovered_items = 0
        self.failed_items = 0

    def recovered(self, count: int = 1) -> None:
        """``count`` parked items were processed and left the backlog."""
        self.recovered_items += count

    def failed(self, count: int = 1, *, error: BaseException | None = None) -> None:  # noqa: ARG002 - for the caller's symmetry
        """``count`` items could not be recovered this time (they stay parked)."""
        self.failed_items += count

    def __enter__(self) -> RecoveryRun:
        self._started = time.perf_counter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        duration = time.perf_counter() - self._started
        if exc is None:
            self._job.run_finished(recovered=self.recovered_items, failed=self.failed_items, duration=duration)
        elif isinstance(exc, Exception):
            self._job.run_failed(exc, recovered=self.recovered_items, failed=self.failed_items, duration=duration)

    async def __aenter__(self) -> RecoveryRun:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def recovery_job(name: str, *, dependency: str = "") -> RecoveryJob:
    """The telemetry handle of recovery path ``name`` (one per name), its series created at zero."""
    found = named(_KIND, name, lambda: RecoveryJob(name, dependency))
    try:
        found._bind()
    except Exception:
        contained("a recovery job")
    return found


# --- the backlog, read at scrape time ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RecoveryBacklogReading:
    parked: int
    oldest: float | None  # Unix time of the oldest parked item's creation


class RecoveryBacklogCollector:
    """A prometheus-client collector reading the parked items from the service's table.

    Args:
        engine: a synchronous SQLAlchemy ``Engine`` or a database URL (then a one-connection
            engine is made). Async apps pass the same database's sync URL: the read runs in
            its own thread, off the scrape path.
        name: the recovery path's name (the ``recovery_name`` label), as given to
            :func:`recovery_job`.
        table, schema, status_column, created_column: where the items are; with
            ``created_column=None`` the oldest age is not exported.
        parked: the status values that mean "parked, waiting for recovery".
        timeout: the longest a scrape waits (also the PostgreSQL statement timeout).
        min_interval: reads start at most this often; scrapes in between reuse the value.
    """

    def __init__(
        self,
        engine: Any,
        *,
        name: str,
        table: str,
        schema: str | None = None,
        status_column: str = "status",
        created_column: str | None = "created_at",
        parked: Iterable[str] = (PENDING_NETWORK_RECOVERY,),
        timeout: float = 2.0,
        min_interval: float = 5.0,
    ) -> None:
        try:
            import sqlalchemy as sa
        except ImportError as exc:
            msg = "the recovery backlog collector needs: pip install 'resilience-telemetry[sqlalchemy]'"
            raise ImportError(msg) from exc
        self._owns_engine = isinstance(engine, str)
        if isinstance(engine, str):
            engine = sa.create_engine(engine, pool_size=1, max_overflow=0, pool_pre_ping=True)
        if not isinstance(engine, sa.Engine):
            msg = "pass a synchronous Engine or a URL (for an AsyncEngine, the same database's sync URL)"
            raise TypeError(msg)
        self.engine = engine
        self.name = name
        # One series per watched name (the developer's calls bound them): cleaned, never folded.
        self.label = clean(name)
        self.table = table if schema is None else f"{schema}.{table}"
        self.parked = tuple(parked)
        columns: list[Any] = [sa.column(status_column)] + ([sa.column(created_column)] if created_column else [])
        rows = sa.table(table, *columns, schema=schema)
        aggregates: list[Any] = [sa.func.count()] + ([sa.func.min(rows.c[created_column])] if created_column else [])
        self._query = sa.select(*aggregates).where(rows.c[status_column].in_(self.parked))
        self._ages = created_column is not None
        self._timeout_ms = max(1, int(timeout * 1000))
        self.reading: CachedReading[RecoveryBacklogReading] = CachedReading(
            self.read, timeout=timeout, min_interval=min_interval, what=f"recovery backlog ({self.table})"
        )

    def read(self) -> RecoveryBacklogReading:
        """Run the backlog query now (blocking)."""
        import sqlalchemy as sa

        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.set_config("statement_timeout", str(self._timeout_ms), True)))  # noqa: FBT003
            row = conn.execute(self._query).one()
        return RecoveryBacklogReading(int(row[0]), _unix_time(row[1]) if self._ages else None)

    def describe(self) -> list[Any]:
        # Names only: registering must not run the query.
        return _describe()

    def collect(self) -> Iterator[Any]:
        value, stale = self.reading.get()
        if value is not None:
            backlog = family(catalog.RECOVERY_BACKLOG)
            backlog.add_metric([self.label], value.parked)
            yield backlog
            if self._ages:
                age = family(catalog.RECOVERY_OLDEST_PARKED_AGE)
                oldest = value.oldest
                age.add_metric([self.label], 0.0 if oldest is None else max(0.0, time.time() - oldest))
                yield age
        stale_family = family(catalog.RECOVERY_BACKLOG_STALE)
        stale_family.add_metric([self.label], 1.0 if stale else 0.0)
        yield stale_family

    def close(self) -> None:
        """Let a read in flight finish, then free the engine if this collector made it."""
        self.reading.wait_idle(self.reading.timeout)
        if self._owns_engine:
            self.engine.dispose()


def _unix_time(value: object) -> float | None:
    """A ``min(created_at)`` as Unix time: naive datetimes are UTC, SQLite hands back text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return None
    return (value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)).timestamp()


def _describe() -> list[Any]:
    return [
        family(catalog.RECOVERY_BACKLOG),
        family(catalog.RECOVERY_OLDEST_PARKED_AGE),
        family(catalog.RECOVERY_BACKLOG_STALE),
    ]


def watch_recovery_backlog(
    engine: Any, *, name: str, telemetry: Telemetry | None = None, **options: Any
) -> RecoveryBacklogCollector:
    """Export the parked backlog of recovery path ``name`` from the set-up's registry and return
    its collector (``options`` as for :class:`RecoveryBacklogCollector`; ``table`` defaults to
    ``name``). Watching a name that is already watched returns its collector and changes nothing;
    every watched name of a registry is served by one collector."""
    options.setdefault("table", name)

    def make(_names: list[str]) -> RecoveryBacklogCollector:
        return RecoveryBacklogCollector(engine, name=name, **options)

    key = clean(name)
    return watch(_WATCH, telemetry, [key], make, label=catalog.RECOVERY_NAME.prom, describe=_describe)[key]


def unwatch_recovery_backlog(name: str, *, telemetry: Telemetry | None = None) -> bool:
    """Stop exporting ``name``'s backlog (its series leave ``/metrics``); ``False`` if it was not
    watched. An engine the collector made from a URL is disposed."""
    return bool(unwatch(_WATCH, telemetry, [clean(name)]))
