"""The recorder: one ``record(event)`` path fanning out to metrics, the current span and logs.

Each sink is a callable with a ``name`` (the :class:`Sink` protocol). A sink that raises is
caught, counted in ``resilience_telemetry_sink_errors_total{sink="<its name>"}`` and reported
once per sink and exception type to stdlib logging (``telemetry``), so telemetry never breaks
the business call and a broken sink does not flood the logs either.

The process recorder lives in :data:`telemetry.state.STATE` (``STATE.recorder``), the one
place for process-wide state; :func:`record` reads it with one attribute access.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, runtime_checkable

from opentelemetry import trace

from telemetry import catalog
from telemetry.state import LOCK, STATE

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from telemetry.events import Event
    from telemetry.metrics import Instruments

__all__ = [
    "LogLevel",
    "LogSink",
    "MetricsSink",
    "Recorder",
    "Sink",
    "TraceSink",
    "get_recorder",
    "record",
    "set_recorder",
    "sink_label",
]

_stdlib_log = logging.getLogger("telemetry")
LogLevel = int | Literal["off"]
_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


@runtime_checkable
class Sink(Protocol):
    """What the recorder fans events out to: a callable with a ``name``.

    ``name`` labels the sink's failures in ``resilience_telemetry_sink_errors_total{sink}``,
    so a broken custom sink is told apart from the built-in ``metrics``, ``trace`` and ``log``
    sinks. Keep it short and constant: it is a metric label (bounded like every open label).
    """

    @property
    def name(self) -> str: ...

    def __call__(self, event: Event, /) -> None: ...


def sink_label(sink: Sink | Callable[[Event], None]) -> str:
    """The name ``sink``'s failures are counted under.

    A plain function without a ``name`` counts under its ``__name__``, any other object under
    its class name. ``sink_name`` is the
    attribute's former spelling, still read so sinks written against it keep their label.
    """
    for attribute in ("name", "sink_name"):
        value = getattr(sink, attribute, None)
        if isinstance(value, str) and value:
            return value
    return str(getattr(sink, "__name__", type(sink).__name__))


class MetricsSink:
    """Renders events to Prometheus through pre-bound children."""

    __slots__ = ("instruments",)
    name: Final = "metrics"

    def __init__(self, instruments: Instruments) -> None:
        self.instruments = instruments

    def __call__(self, event: Event) -> None:
        event.to_metrics(self.instruments)


class TraceSink:
    """Renders events onto the current span, when there is one that records."""

    __slots__ = ()
    name: Final = "trace"

    def __call__(self, event: Event) -> None:
        _to_span(event)


_default_to_span: Any = None


def _to_span(event: Event) -> Mapping[str, Any] | None:
    """Render ``event`` onto the current span (looked up once); returns the attributes it
    built, when the event uses the default rendering (one span event with its attributes)."""
    global _default_to_span  # noqa: PLW0603 - resolved once, lazily: events import this module's users
    span = trace.get_current_span()
    if not span.is_recording():
        return None
    if _default_to_span is None:
        from telemetry.events import Event as Base

        _default_to_span = Base.to_span
    if type(event).to_span is not _default_to_span:
        event.to_span(span)
        return None
    attributes = event.attributes()
    span.add_event(event.name, attributes)
    return attributes


class LogSink:
    """One structlog line per event, at the event's level unless overridden.

    ``levels`` maps event names (``telemetry.retry.scheduled``) to a level or ``"off"``;
    ``"off"`` drops the log line only, never the metric or the span event.
    """

    __slots__ = ("_levels", "_logger")
    name: Final = "log"

    def __init__(self, levels: Mapping[str, LogLevel | str] | None = None) -> None:
        self._levels: dict[str, int | None] = {name: _parse_level(level) for name, level in (levels or {}).items()}
        self._logger: Any = None

    def __call__(self, event: Event) -> None:
        self.log(event, None)

    def log(self, event: Event, attributes: Mapping[str, Any] | None) -> None:
        """The line, with ``attributes`` if the trace sink already built them for this event."""
        level = self._levels.get(event.name, event.level)
        if level is None:
            return
        logger = self._logger
        if logger is None:
            import structlog

            # Resolved on first use, not at import: structlog may be configured after us.
            logger = self._logger = structlog.get_logger("telemetry")
        logger.log(level, event.name, **(event.attributes() if attributes is None else attributes))


def _parse_level(level: LogLevel | str) -> int | None:
    if isinstance(level, int):
        return level
    if level == "off":
        return None
    found = _LEVELS.get(level.lower())
    if found is None:
        msg = f"unknown log level {level!r}: use a logging level, a level name, or 'off'"
        raise ValueError(msg)
    return found


class Recorder:
    """Fans each event out to its sinks; a failing sink is isolated from the others."""

    __slots__ = ("_reported", "_reported_lock", "instruments", "sinks")

    def __init__(self, instruments: Instruments, sinks: list[Sink | Callable[[Event], None]] | None = None) -> None:
        self.instruments = instruments
        self.sinks: list[Sink | Callable[[Event], None]] = (
            sinks if sinks is not None else [MetricsSink(instruments), TraceSink(), LogSink()]
        )
        self._reported: set[tuple[str, type[BaseException]]] = set()
        self._reported_lock = threading.Lock()

    def record(self, event: Event) -> None:
        """Record ``event`` everywhere; never raises.

        The built-in trace and log sinks share one attribute dict per event (the span event
        copies it, the log call unpacks it), built only once: an event's ``attributes()`` is
        called once, not once per sink.
        """
        attributes: Mapping[str, Any] | None = None
        for sink in self.sinks:
            try:
                kind = type(sink)
                if kind is TraceSink:
                    attributes = _to_span(event)
                elif kind is LogSink:
                    sink.log(event, attributes)  # type: ignore[union-attr]
                else:
                    sink(event)
            except Exception as exc:  # noqa: PERF203 - each sink is isolated from the others
                self._sink_failed(sink, event, exc)

    def _sink_failed(self, sink: Sink | Callable[[Event], None], event: Event, exc: Exception) -> None:
        try:
            name = sink_label(sink)
            if name not in catalog.BUILTIN_SINKS:  # custom names are bounded like any open label
                name = self.instruments.admit(catalog.TELEMETRY_SINK, name)
            self.instruments.inc(catalog.TELEMETRY_SINK_ERRORS, sink=name)
            key = (name, type(exc))
            with self._reported_lock:
                first = key not in self._reported
                self._reported.add(key)
            if first:
                _stdlib_log.warning(
                    "telemetry sink %r failed on %s with %s; further failures of this kind are "
                    "only counted in resilience_telemetry_sink_errors_total",
                    name,
                    event.name,
                    type(exc).__name__,
                    exc_info=exc,
                )
        except Exception:  # noqa: S110 - the last line of defence must not raise either
            pass


def get_recorder() -> Recorder:
    """The process recorder; created on first use with the default Prometheus registry."""
    found: Recorder | None = STATE.recorder
    if found is not None:
        return found
    return _create_default()


def _create_default() -> Recorder:
    from telemetry.metrics import instruments_for

    with LOCK:
        if STATE.recorder is None:
            STATE.recorder = Recorder(instruments_for(None))
        created: Recorder = STATE.recorder
        return created


def set_recorder(recorder: Recorder | None) -> Recorder | None:
    """Install ``recorder`` for the process (``None``: back to the default on next use);
    returns the previous one, so a test can put it back."""
    with LOCK:
        previous: Recorder | None = STATE.recorder
        STATE.recorder = recorder
    return previous


def record(event: Event) -> None:
    """Record ``event`` through the process recorder. Never raises."""
    recorder = STATE.recorder
    if recorder is None:
        try:
            recorder = get_recorder()
        except Exception:
            _stdlib_log.exception("telemetry could not create its recorder; event %s dropped", event.name)
            return
    recorder.record(event)
