"""The recorder: one ``record(event)`` path fanning out to metrics, the current span and logs.

Each sink is a plain callable. A sink that raises is caught, counted in
``resilience_telemetry_sink_errors_total{sink}`` and reported once per sink and exception
type to stdlib logging (``telemetry``), so telemetry never breaks the business call and a
broken sink does not flood the logs either.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal

from opentelemetry import trace

from telemetry import catalog

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from telemetry.events import Event
    from telemetry.metrics import Instruments

__all__ = [
    "LogLevel",
    "LogSink",
    "MetricsSink",
    "Recorder",
    "TraceSink",
    "get_recorder",
    "record",
    "reset_recorder",
    "set_recorder",
]

_stdlib_log = logging.getLogger("telemetry")
LogLevel = int | Literal["off"]
Sink = Callable[["Event"], None]
_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


class MetricsSink:
    """Renders events to Prometheus through pre-bound children."""

    __slots__ = ("instruments",)
    sink_name: Final = "metrics"

    def __init__(self, instruments: Instruments) -> None:
        self.instruments = instruments

    def __call__(self, event: Event) -> None:
        event.to_metrics(self.instruments)


class TraceSink:
    """Renders events onto the current span, when there is one that records."""

    __slots__ = ()
    sink_name: Final = "trace"

    def __call__(self, event: Event) -> None:
        span = trace.get_current_span()
        if span.is_recording():
            event.to_span(span)


class LogSink:
    """One structlog line per event, at the event's level unless overridden.

    ``levels`` maps event names (``telemetry.retry.scheduled``) to a level or ``"off"``;
    ``"off"`` drops the log line only, never the metric or the span event.
    """

    __slots__ = ("_levels", "_logger")
    sink_name: Final = "log"

    def __init__(self, levels: Mapping[str, LogLevel | str] | None = None) -> None:
        self._levels: dict[str, int | None] = {name: _parse_level(level) for name, level in (levels or {}).items()}
        self._logger: Any = None

    def __call__(self, event: Event) -> None:
        level = self._levels.get(event.name, event.level)
        if level is None:
            return
        logger = self._logger
        if logger is None:
            import structlog

            # Resolved on first use, not at import: structlog may be configured after us.
            logger = self._logger = structlog.get_logger("telemetry")
        logger.log(level, event.name, **event.attributes())


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

    def __init__(self, instruments: Instruments, sinks: list[Sink] | None = None) -> None:
        self.instruments = instruments
        self.sinks: list[Sink] = sinks if sinks is not None else [MetricsSink(instruments), TraceSink(), LogSink()]
        self._reported: set[tuple[str, type[BaseException]]] = set()
        self._reported_lock = threading.Lock()

    def record(self, event: Event) -> None:
        """Record ``event`` everywhere; never raises."""
        for sink in self.sinks:
            try:
                sink(event)
            except Exception as exc:  # noqa: PERF203 - each sink is isolated from the others
                self._sink_failed(sink, event, exc)

    def _sink_failed(self, sink: Sink, event: Event, exc: Exception) -> None:
        name = getattr(sink, "sink_name", "metrics")
        if name not in ("metrics", "trace", "log"):
            name = "metrics"
        try:
            self.instruments.inc(catalog.TELEMETRY_SINK_ERRORS, name)
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


_recorder: Recorder | None = None
_recorder_lock = threading.Lock()


def get_recorder() -> Recorder:
    """The process recorder; created on first use with the default Prometheus registry."""
    found = _recorder
    if found is not None:
        return found
    return _create_default()


def _create_default(registry: CollectorRegistry | None = None) -> Recorder:
    global _recorder  # noqa: PLW0603 - one process-wide recorder, as stamina keeps one config
    from telemetry.metrics import instruments_for

    with _recorder_lock:
        if _recorder is None:
            _recorder = Recorder(instruments_for(registry))
        return _recorder


def set_recorder(recorder: Recorder) -> Recorder | None:
    """Install ``recorder`` for the process; returns the previous one (for tests)."""
    global _recorder
    with _recorder_lock:
        previous, _recorder = _recorder, recorder
    return previous


def reset_recorder() -> None:
    """Forget the process recorder (tests)."""
    global _recorder  # noqa: PLW0603 - see _create_default
    with _recorder_lock:
        _recorder = None


def record(event: Event) -> None:
    """Record ``event`` through the process recorder. Never raises."""
    try:
        recorder = _recorder if _recorder is not None else get_recorder()
    except Exception:
        _stdlib_log.exception("telemetry could not create its recorder; event %s dropped", event.name)
        return
    recorder.record(event)
