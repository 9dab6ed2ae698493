"""Writing to the outbox inside the business transaction, and counting only what committed.

Usage (SQLAlchemy ``AsyncSession`` or ``Session``)::

    async with session.begin():
        session.add(order)
        await enqueue(session, outbox, destination="orders:order.created", payload=event)

The row carries the current ``traceparent``/``tracestate`` and correlation ID in its
``headers`` column, so the relay can link its publish span to this request and the consumer
can restore the correlation ID. ``resilience_outbox_enqueued_total`` moves when the session
commits; a rolled-back transaction counts nothing.
"""

from __future__ import annotations

import inspect
import json
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final

from telemetry.correlation import inject
from telemetry.recorder import record

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy import Table

__all__ = ["context_headers", "count_after_commit", "encode_payload", "enqueue"]

_PENDING_KEY: Final = "telemetry.outbox.pending"
_HOOKED_KEY: Final = "telemetry.outbox.hooked"


def context_headers(extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The headers to store with an outbox row: ``extra`` plus the current trace context and
    correlation ID (``traceparent``, ``tracestate``, ``x-correlation-id``)."""
    headers: dict[str, Any] = dict(extra or {})
    inject(headers)
    return headers


def encode_payload(payload: bytes | str | Mapping[str, Any] | list[Any]) -> bytes:
    """Bytes as given, text as UTF-8, anything else as compact JSON."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload, separators=(",", ":"), default=str).encode()


def _flush(session: Any) -> None:
    from telemetry.events.outbox import OutboxEnqueued

    for destination, message_id in session.info.pop(_PENDING_KEY, ()):
        record(OutboxEnqueued(destination=destination, message_id=message_id))


def _drop(session: Any) -> None:
    session.info.pop(_PENDING_KEY, None)


def count_after_commit(session: Any, destination: str, message_id: str) -> None:
    """Count one outbox message when ``session`` (sync or async) commits; forget it on rollback.

    For outbox rows you insert yourself; :func:`enqueue` calls it for you.
    """
    from sqlalchemy import event

    target = getattr(session, "sync_session", session)
    if not target.info.get(_HOOKED_KEY):
        event.listen(target, "after_commit", _flush)
        event.listen(target, "after_rollback", _drop)
        target.info[_HOOKED_KEY] = True
    target.info.setdefault(_PENDING_KEY, []).append((destination, message_id))


async def enqueue(
    session: Any,
    table: Table,
    *,
    destination: str,
    payload: bytes | str | Mapping[str, Any] | list[Any],
    message_id: str | None = None,
    headers: Mapping[str, Any] | None = None,
) -> str:
    """Insert one pending row into the reference outbox ``table`` within ``session``'s
    transaction; returns the message id. Works with ``AsyncSession`` and ``Session``."""
    from telemetry.outbox.table import PENDING

    message_id = message_id or uuid.uuid4().hex
    now = datetime.now(timezone.utc)
    statement = table.insert().values(
        message_id=message_id,
        destination=destination,
        payload=encode_payload(payload),
        headers=context_headers(headers),
        status=PENDING,
        attempts=0,
        created_at=now,
        available_at=now,
    )
    result = session.execute(statement)
    if inspect.isawaitable(result):
        await result
    count_after_commit(session, destination, message_id)
    return message_id
