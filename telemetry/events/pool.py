"""Connection-pool events: the rare facts of a pool's life.

The per-checkout measurements (wait, use and create times, pending requests) are not events:
they go straight to pre-bound histogram children on the hot path (see
:mod:`telemetry.integrations.sqlalchemy`). What is here happens rarely and deserves a span
event and a log line: a checkout that timed out, a checkout that found the pool exhausted, an
invalidated connection, and a connection the garbage collector reclaimed because the
application never returned it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from telemetry import attributes as attr
from telemetry import catalog
from telemetry.events._base import Attributes, Event
from telemetry.labels import error_type

if TYPE_CHECKING:
    from telemetry.metrics import Instruments

__all__ = ["PoolConnectionGarbageCollected", "PoolConnectionInvalidated", "PoolExhausted", "PoolTimedOut"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolExhausted(Event):
    """A checkout found no idle connection and ``pool_size + max_overflow`` already open: it waits.

    Logged at DEBUG: under sustained load this happens on every checkout, and the timeout that
    may follow is the WARNING. The counter and the span event show it at any level.
    """

    name: ClassVar[str] = "telemetry.pool.exhausted"
    level: ClassVar[int] = logging.DEBUG
    pool_name: str
    pool_size: int
    max_overflow: int
    checked_out: int

    def to_metrics(self, m: Instruments) -> None:
        m.inc(catalog.POOL_EXHAUSTED, db_client_connection_pool_name=m.admit(catalog.POOL_NAME, self.pool_name))

    def attributes(self) -> Attributes:
        return attr.present(
            {
                attr.DB_CLIENT_CONNECTION_POOL_NAME: self.pool_name,
                attr.POOL_SIZE: self.pool_size,
                attr.POOL_MAX_OVERFLOW: self.max_overflow,
                attr.POOL_CHECKED_OUT: self.checked_out,
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolTimedOut(Event):
    """A checkout gave up after ``timeout`` seconds; ``sqlalchemy.exc.TimeoutError`` propagates.

    Carries what the on-call engineer needs to tell "pool too small" from "connections held
    too long": the configured size and overflow, how many were checked out, how long it waited.
    """

    name: ClassVar[str] = "telemetry.pool.timed_out"
    level: ClassVar[int] = logging.WARNING
    pool_name: str
    pool_size: int
    max_overflow: int
    overflow: int
    checked_out: int
    waited: float
    timeout: float

    def to_metrics(self, m: Instruments) -> None:
        m.inc(
            catalog.DB_CLIENT_CONNECTION_TIMEOUTS,
            db_client_connection_pool_name=m.admit(catalog.POOL_NAME, self.pool_name),
        )

    def attributes(self) -> Attributes:
        return attr.present(
            {
                attr.DB_CLIENT_CONNECTION_POOL_NAME: self.pool_name,
                attr.POOL_SIZE: self.pool_size,
                attr.POOL_MAX_OVERFLOW: self.max_overflow,
                attr.POOL_OVERFLOW: self.overflow,
                attr.POOL_CHECKED_OUT: self.checked_out,
                attr.POOL_WAITED: round(self.waited, 6),
                attr.POOL_TIMEOUT: self.timeout,
                attr.ERROR_TYPE: "TimeoutError",
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolConnectionInvalidated(Event):
    """A pooled connection was invalidated: ``hard`` closes it now (a disconnect, a failed
    pre-ping), ``soft`` marks it to be replaced at its next checkout."""

    name: ClassVar[str] = "telemetry.pool.connection_invalidated"
    level: ClassVar[int] = logging.INFO
    pool_name: str
    soft: bool = False
    caused_by: BaseException | None = None

    @property
    def kind(self) -> str:
        return "soft" if self.soft else "hard"

    def to_metrics(self, m: Instruments) -> None:
        m.inc(
            catalog.POOL_INVALIDATIONS,
            db_client_connection_pool_name=m.admit(catalog.POOL_NAME, self.pool_name),
            invalidation=self.kind,
            error_type=m.admit(catalog.ERROR_TYPE, error_type(self.caused_by)),
        )

    def attributes(self) -> Attributes:
        return attr.present(
            {
                attr.DB_CLIENT_CONNECTION_POOL_NAME: self.pool_name,
                attr.POOL_INVALIDATION: self.kind,
                attr.ERROR_TYPE: error_type(self.caused_by),
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolConnectionGarbageCollected(Event):
    """A checked-out connection was reclaimed by the garbage collector instead of being
    returned: the application leaks connections (a session or connection never closed)."""

    name: ClassVar[str] = "telemetry.pool.connection_garbage_collected"
    level: ClassVar[int] = logging.WARNING
    pool_name: str

    def to_metrics(self, m: Instruments) -> None:
        m.inc(catalog.POOL_GC_RETURNED, db_client_connection_pool_name=m.admit(catalog.POOL_NAME, self.pool_name))

    def attributes(self) -> Attributes:
        return attr.present({attr.DB_CLIENT_CONNECTION_POOL_NAME: self.pool_name})
