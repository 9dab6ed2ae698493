"""A reference outbox table: the columns the helpers, the relay and the backlog collector use.

Your own table works too: :func:`telemetry.outbox.context_headers` gives the headers value to
store, :func:`telemetry.outbox.count_after_commit` counts it, and the backlog collector takes
the table and column names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from sqlalchemy import MetaData, Table

__all__ = ["FAILED", "PENDING", "PUBLISHED", "outbox_table"]

PENDING: Final = "pending"
PUBLISHED: Final = "published"
FAILED: Final = "failed"


def outbox_table(metadata: MetaData, name: str = "outbox", *, schema: str | None = None) -> Table:
    """Define the reference outbox table in ``metadata`` (create it with your migrations).

    Columns: ``message_id`` (primary key, the AMQP message id), ``destination``
    (``exchange:routing_key`` or a queue name), ``payload`` (bytes), ``headers`` (JSON:
    ``traceparent``, ``tracestate``, ``x-correlation-id`` and your own), ``status``
    (pending/published/failed), ``attempts``, ``created_at``, ``available_at`` (next attempt),
    ``published_at``, ``last_error`` (an ``error.type``, never a message). One index on
    ``(status, created_at)`` serves both the relay's claim and the backlog query.
    """
    try:
        import sqlalchemy as sa
    except ImportError as exc:
        msg = "the outbox table needs: pip install 'resilience-telemetry[sqlalchemy]'"
        raise ImportError(msg) from exc

    columns: list[Any] = [
        sa.Column("message_id", sa.String(64), primary_key=True),
        sa.Column("destination", sa.String(255), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("headers", sa.JSON, nullable=False, default=dict),
        sa.Column("status", sa.String(16), nullable=False, default=PENDING),
        sa.Column("attempts", sa.Integer, nullable=False, default=0),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(128), nullable=True),
    ]
    table = sa.Table(name, metadata, *columns, schema=schema)
    sa.Index(f"ix_{name}_status_created_at", table.c.status, table.c.created_at)
    return table
