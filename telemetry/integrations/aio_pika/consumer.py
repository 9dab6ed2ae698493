"""The aio-pika consumer wrapper: spans, correlation, attempts, settling and dead-letter counts
for each delivery (see :mod:`telemetry.integrations.aio_pika`)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from opentelemetry.trace import INVALID_SPAN, Link, SpanKind

from telemetry import attributes as attr
from telemetry.correlation import HEADER, bound, extract, is_valid
from telemetry.integrations.contract import Instrumented, enabled
from telemetry.labels import error_type
from telemetry.messaging import (
    delivery_count,
    headers_of,
    links_from,
    mark_failed,
    messaging_span,
    parse_x_death,
)
from telemetry.recorder import record

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator, Mapping

    from opentelemetry.trace import Span

    from telemetry.bootstrap import Telemetry
    from telemetry.events import Event
    from telemetry.messaging import Death

__all__ = [
    "DuplicateMessage",
    "PermanentError",
    "instrument_consumer",
    "is_instrumented",
    "uninstrument_consumer",
]

_log = logging.getLogger("telemetry.consumer")
_INSTRUMENTED: Final = Instrumented("aio_pika")


class DuplicateMessage(Exception):  # noqa: N818 - a signal raised by handlers, not an error
    """Raise from a handler when the delivery was already processed (natural key): it is
    acknowledged and counted as ``duplicate``."""


class PermanentError(Exception):
    """Raise (or subclass) for errors no retry can fix: the message is dead-lettered at once."""


def _silent(_event: Event) -> None:
    """What the wrapper records through inside ``suppress_instrumentation()``: nothing."""


@contextlib.contextmanager
def _no_span() -> Iterator[Span]:
    yield INVALID_SPAN


@dataclass(frozen=True, slots=True)
class _Inbound:
    links: list[Link]
    problems: list[str]
    correlation_id: str | None
    deaths: list[Death]
    attempt: int
    message_id: str | None

    @property
    def total_deaths(self) -> int:
        return sum(death.count for death in self.deaths)


class _Consumer:
    """The wrapped handler; see :func:`instrument_consumer`."""

    def __init__(
        self,
        handler: Callable[[Any], Awaitable[Any]],
        *,
        queue: str,
        max_attempts: int,
        non_retryable: tuple[type[BaseException], ...],
        system: str,
        tracer_provider: Any,
        remember: int,
    ) -> None:
        if max_attempts < 1:
            msg = f"max_attempts must be at least 1, got {max_attempts}"
            raise ValueError(msg)
        self.handler = handler
        self.queue = queue
        self.max_attempts = max_attempts
        self.non_retryable: tuple[type[BaseException], ...] = (PermanentError, *non_retryable)
        self.system = system
        self.tracer_provider = tracer_provider
        self._failures: OrderedDict[str, int] = OrderedDict()
        self._remember = remember
        self.__wrapped__ = handler

    def _key(self, message: Any) -> str:
        message_id = getattr(message, "message_id", None)
        if isinstance(message_id, str) and message_id:
            return message_id
        return hashlib.blake2b(bytes(getattr(message, "body", b"") or b""), digest_size=16).hexdigest()

    def _attempt(self, message: Any, count: int | None) -> int:
        if count is not None:
            return count + 1
        return self._failures.get(self._key(message), 0) + 1

    def _failed(self, message: Any) -> None:
        key = self._key(message)
        self._failures[key] = self._failures.get(key, 0) + 1
        self._failures.move_to_end(key)
        while len(self._failures) > self._remember:
            self._failures.popitem(last=False)

    def _forget(self, message: Any) -> None:
        self._failures.pop(self._key(message), None)

    def _correlation(self, message: Any, headers: Mapping[str, Any]) -> tuple[str | None, bool]:
        """The correlation ID (header first, then the AMQP property) and whether one offered was invalid."""
        _, cid = extract(headers)
        invalid = cid is None and HEADER in headers
        if cid is None:
            prop = getattr(message, "correlation_id", None)
            if is_valid(prop):
                cid = prop
            elif prop:
                invalid = True
        return cid, invalid

    async def _settle(self, message: Any, *, requeue: bool | None) -> None:
        """``requeue=None`` acks; otherwise rejects. A settle failure (channel gone) is logged only:
        the broker redelivers the message, which is what at-least-once means."""
        try:
            if requeue is None:
                await message.ack()
            else:
                await message.reject(requeue=requeue)
        except Exception as exc:
            _log.warning("settling a message from %s failed with %s", self.queue, error_type(exc))

    def _inspect(self, message: Any) -> _Inbound:
        """Read and validate everything the headers carry; never raises on garbage."""
        headers = headers_of(message)
        links = links_from(headers)
        problems: list[str] = []
        if "traceparent" in headers and not any(
            (link.attributes or {}).get(attr.LINK_KIND) == "creation" for link in links
        ):
            problems.append("traceparent")
        cid, invalid_cid = self._correlation(message, headers)
        if invalid_cid:
            problems.append("correlation_id")
        deaths, bad_deaths = parse_x_death(headers)
        if bad_deaths:
            problems.append("x-death")
        count, bad_count = delivery_count(headers)
        if bad_count:
            problems.append("x-delivery-count")
        message_id = getattr(message, "message_id", None)
        return _Inbound(
            links=links,
            problems=problems,
            correlation_id=cid,
            deaths=deaths,
            attempt=self._attempt(message, count),
            message_id=message_id if isinstance(message_id, str) and message_id else None,
        )

    async def _failed_with(
        self, message: Any, inbound: _Inbound, exc: Exception, span: Any, emit: Callable[[Event], None]
    ) -> None:
        from telemetry.events.dlq import MessageDeadLettered, MessageRetryScheduled

        mark_failed(span, exc)
        if inbound.attempt < self.max_attempts and not isinstance(exc, self.non_retryable):
            self._failed(message)
            emit(
                MessageRetryScheduled(
                    queue=self.queue,
                    message_id=inbound.message_id,
                    attempt=inbound.attempt,
                    max_attempts=self.max_attempts,
                    caused_by=exc,
                )
            )
            await self._settle(message, requeue=True)
            return
        self._forget(message)
        emit(
            MessageDeadLettered(
                queue=self.queue,
                message_id=inbound.message_id,
                attempt=inbound.attempt,
                deaths=inbound.total_deaths,
                caused_by=exc,
            )
        )
        await self._settle(message, requeue=False)

    async def __call__(self, message: Any) -> None:
        from telemetry.events.dlq import (
            InvalidHeaderIgnored,
            MessageDeadLettered,
            MessageDuplicateSkipped,
            MessageProcessed,
        )

        if self not in _INSTRUMENTED:
            await self.handler(message)  # uninstrumented: your handler, exactly as before
            return
        live = enabled()
        emit: Callable[[Event], None] = record if live else _silent
        inbound = self._inspect(message)
        attributes: dict[str, Any] = {
            attr.MESSAGING_SYSTEM: self.system,
            attr.MESSAGING_DESTINATION_NAME: self.queue,
            attr.MESSAGING_OPERATION_TYPE: "process",
            attr.MESSAGING_OPERATION_NAME: "process",
            attr.CONSUMER_ATTEMPT: inbound.attempt,
        }
        if inbound.message_id:
            attributes[attr.MESSAGING_MESSAGE_ID] = inbound.message_id
        if inbound.total_deaths:
            attributes[attr.DLQ_DEATHS] = inbound.total_deaths
        with (
            bound(inbound.correlation_id) as cid,
            (
                messaging_span(
                    f"process {self.queue}",
                    kind=SpanKind.CONSUMER,
                    links=inbound.links,
                    attributes=attributes,
                    tracer_provider=self.tracer_provider,
                )
                if live
                else _no_span()
            ) as span,
        ):
            span.set_attribute(attr.MESSAGING_MESSAGE_CONVERSATION_ID, cid)
            for header in inbound.problems:
                emit(InvalidHeaderIgnored(queue=self.queue, header=header, message_id=inbound.message_id))
            newest = inbound.deaths[0] if inbound.deaths else None
            if inbound.attempt == 1 and newest is not None and newest.reason != "rejected":
                emit(
                    MessageDeadLettered(
                        queue=newest.queue,
                        message_id=inbound.message_id,
                        reason=newest.reason,
                        by="broker",
                        deaths=inbound.total_deaths,
                    )
                )
            try:
                await self.handler(message)
            except DuplicateMessage:
                self._forget(message)
                emit(MessageDuplicateSkipped(queue=self.queue, message_id=inbound.message_id))
                await self._settle(message, requeue=None)
            except Exception as exc:
                await self._failed_with(message, inbound, exc, span, emit)
            else:
                self._forget(message)
                emit(MessageProcessed(queue=self.queue, message_id=inbound.message_id, attempt=inbound.attempt))
                await self._settle(message, requeue=None)


def instrument_consumer(
    handler: Callable[[Any], Awaitable[Any]],
    *,
    queue: str = "",
    max_attempts: int = 3,
    non_retryable: tuple[type[BaseException], ...] = (),
    system: str = "rabbitmq",
    tracer_provider: Any = None,
    remember: int = 10_000,
    telemetry: Telemetry | None = None,
) -> Callable[[Any], Awaitable[None]]:
    """Wrap an async message handler (see the module docstring); wrapping twice is a no-op.

    Args:
        handler: ``async def handler(message)``; raise :class:`DuplicateMessage` to skip,
            :class:`PermanentError` (or a ``non_retryable`` type) to dead-letter at once.
        queue: the queue's name (a metric label; bounded).
        max_attempts: deliveries before the message is dead-lettered.
        non_retryable: exception types dead-lettered on the first failure.
        remember: message ids whose failures are counted in process when the broker gives no
            ``x-delivery-count`` (classic queues).
        telemetry: the set-up whose tracer provider the spans use (default: ``tracer_provider``,
            else the current set-up's).
    """
    if isinstance(handler, _Consumer):
        if handler not in _INSTRUMENTED:
            _INSTRUMENTED.add(handler, _noop)
        return handler
    if not queue:
        msg = "instrument_consumer needs queue=<the queue's name>"
        raise ValueError(msg)
    if tracer_provider is None and telemetry is not None:
        tracer_provider = telemetry.tracer_provider
    wrapper = _Consumer(
        handler,
        queue=queue,
        max_attempts=max_attempts,
        non_retryable=non_retryable,
        system=system,
        tracer_provider=tracer_provider,
        remember=remember,
    )
    _INSTRUMENTED.add(wrapper, _noop)
    return wrapper


def _noop() -> None:
    """Undoing a wrapper is forgetting it: it then passes deliveries straight to the handler."""


def uninstrument_consumer(handler: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], Awaitable[Any]]:
    """Turn a wrapped handler into a pass-through and return the original (idempotent; a handler
    that was never wrapped is returned as it is)."""
    if isinstance(handler, _Consumer):
        _INSTRUMENTED.remove(handler)
        return handler.__wrapped__
    return handler


def is_instrumented(handler: object) -> bool:
    """Whether ``handler`` is a wrapper that currently records (not uninstrumented)."""
    return isinstance(handler, _Consumer) and handler in _INSTRUMENTED
