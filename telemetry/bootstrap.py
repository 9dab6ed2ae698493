"""The one call a service makes at start-up, and the OpenTelemetry providers behind it.

:func:`setup` wires the recorder to a Prometheus registry, makes sure spans are recorded, and
turns on OTLP export of traces, logs and metrics only when the standard ``OTEL_*`` variables ask for it
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or a per-signal endpoint; ``OTEL_TRACES_EXPORTER=none`` and
``OTEL_LOGS_EXPORTER=none``, ``OTEL_METRICS_EXPORTER=none`` switch a signal off). Calling it again returns the same
:class:`Telemetry`: no second registration, no second span processor, no second log handler.
Options a later call passes that differ from the first call's cannot take effect; they are
named in a :class:`SetupOptionsIgnored` warning (``warnings.warn``, so it points at the
caller's line and tests can turn it into an error) instead of being dropped silently.

The current set-up lives in :data:`telemetry.state.STATE` (``STATE.setup``, with the options
it was made with in ``STATE.setup_options``); :func:`telemetry.state.reset` forgets it.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import trace

from telemetry import export
from telemetry.metrics import Instruments, forget_instruments, instruments_for
from telemetry.recorder import LogLevel, LogSink, MetricsSink, Recorder, TraceSink
from telemetry.state import LOCK, STATE

if TYPE_CHECKING:
    from collections.abc import Mapping

    from prometheus_client import CollectorRegistry

__all__ = ["SHUTDOWN_TIMEOUT", "SetupOptionsIgnored", "Telemetry", "current", "otlp_enabled", "setup"]

_log = logging.getLogger("telemetry")

#: The one overall deadline (seconds) :meth:`Telemetry.shutdown` gives traces, logs and metrics.
SHUTDOWN_TIMEOUT: Final = 3.0


class SetupOptionsIgnored(UserWarning):
    """A second :func:`setup` passed options the existing set-up cannot take on."""


@dataclass(slots=True)
class Telemetry:
    """What the set-up call made; pass it to per-library ``instrument_*`` helpers if you like."""

    service_name: str
    registry: CollectorRegistry
    instruments: Instruments
    recorder: Recorder
    tracer_provider: Any
    logger_provider: Any = None
    meter_provider: Any = None

    def shutdown(self, timeout: float = SHUTDOWN_TIMEOUT) -> bool:
        """Flush and stop the trace, log and metric exporters within one overall ``timeout``.

        The three providers shut down in parallel threads, so an endpoint that accepts and never
        answers costs at most ``timeout`` (the SDK alone waits per export attempt, one provider
        after the other: 51 s was measured). What is not flushed by then is abandoned, with
        one warning. Returns whether everything finished in time; safe to call twice.
        """
        import threading
        import time

        threads = []
        for provider in (self.tracer_provider, self.logger_provider, self.meter_provider):
            stop = getattr(provider, "shutdown", None)
            if stop is not None:
                thread = threading.Thread(target=_shutdown_one, args=(stop,), name="telemetry-shutdown", daemon=True)
                thread.start()
                threads.append(thread)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        late = sum(thread.is_alive() for thread in threads)
        if late:
            _log.warning("telemetry shutdown: %d exporter(s) still flushing after %.1fs; abandoned", late, timeout)
        return not late


def _shutdown_one(stop: Any) -> None:
    try:
        stop()
    except Exception:
        _log.warning("telemetry exporter shutdown failed", exc_info=True)


def current() -> Telemetry | None:
    """The active set-up, if :func:`setup` ran (since the last :func:`telemetry.state.reset`)."""
    found: Telemetry | None = STATE.setup
    return found


def otlp_enabled(signal: str) -> bool:
    """Whether the standard environment asks for OTLP export of ``signal`` (traces, logs)."""
    exporter = os.environ.get(f"OTEL_{signal.upper()}_EXPORTER", "otlp").strip().lower()
    if exporter in ("none", ""):
        return False
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
    )


def _service_name(explicit: str | None) -> str:
    if explicit:
        return explicit
    from opentelemetry.sdk.resources import Resource

    return str(Resource.create().attributes.get("service.name", "unknown_service"))


def _resource(service_name: str) -> Any:
    """The service's resource: ``service_name`` (the explicit name, else the environment's, see
    :func:`_service_name`) over what the environment and the SDK detect
    (``OTEL_RESOURCE_ATTRIBUTES``, the SDK's per-process ``service.instance.id``)."""
    from opentelemetry.sdk.resources import Resource

    # Attributes given to create() win over the detected ones, and only the name is given. (A
    # second detected resource merged on top would put back the SDK's "unknown_service".)
    return Resource.create({"service.name": service_name})


def _otlp_protocol(signal: str) -> str:
    return (
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )


def _span_exporter() -> Any:
    if _otlp_protocol("traces") == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
                OTLPSpanExporter,
            )
        except ImportError as exc:
            msg = "OTLP over gRPC needs: pip install opentelemetry-exporter-otlp-proto-grpc"
            raise ImportError(msg) from exc
        return OTLPSpanExporter()
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
    except ImportError as exc:
        msg = "OTLP export needs: pip install 'resilience-telemetry[otlp]'"
        raise ImportError(msg) from exc
    return HttpExporter()


def _tracer_provider(service_name: str, given: Any, instruments: Instruments) -> Any:
    if given is not None:
        return given
    from opentelemetry.sdk.trace import TracerProvider

    existing = trace.get_tracer_provider()
    if isinstance(existing, TracerProvider):
        return existing  # the service (or an earlier set-up) configured tracing already
    provider = TracerProvider(resource=_resource(service_name))
    if otlp_enabled("traces"):
        # Batch processor: export is asynchronous with a bounded queue; drops never block, are counted.
        provider.add_span_processor(export.span_processor(_span_exporter(), instruments))
    trace.set_tracer_provider(provider)
    return trace.get_tracer_provider()


def _logger_provider(service_name: str, instruments: Instruments) -> Any:
    if not otlp_enabled("logs"):
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    except ImportError as exc:
        msg = "OTLP log export needs: pip install 'resilience-telemetry[otlp]'"
        raise ImportError(msg) from exc
    from opentelemetry.sdk._logs import LoggerProvider

    from telemetry.otlp_logs import handler as otlp_handler

    provider = LoggerProvider(resource=_resource(service_name))
    provider.add_log_record_processor(export.log_record_processor(OTLPLogExporter(), instruments))
    handler = otlp_handler(provider, service_name)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "telemetry-otlp":
            root.removeHandler(existing)
    root.addHandler(handler)
    return provider


def _meter_provider(service_name: str, registry: CollectorRegistry) -> Any:
    if not otlp_enabled("metrics"):
        return None
    from telemetry.otlp_metrics import meter_provider

    return meter_provider(_resource(service_name), registry)


#: ``setup()``'s defaults; an option equal to its default was not asked for
_DEFAULTS: Final[dict[str, Any]] = {
    "service_name": None,
    "tracer_provider": None,
    "label_cap": 100,
    "log_levels": None,
    "configure_logs": False,
    "log_level": logging.INFO,
}


def _no_created_series() -> None:
    """Switch off prometheus-client's ``*_created`` series unless the environment keeps them.

    prometheus-client adds a ``<name>_created`` gauge beside every counter and histogram
    family, which doubles the families a service exports (and pays for) while Prometheus
    ignores them unless ``--enable-feature=created-timestamp-zero-ingestion`` is on. The switch
    is process-wide (prometheus-client has no per-registry one), so it covers the service's own
    metrics too. ``PROMETHEUS_DISABLE_CREATED_SERIES=false`` (prometheus-client's own variable)
    keeps them, as does ``prometheus_client.enable_created_metrics()`` after set-up.
    """
    keep = os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "").strip().lower() in ("false", "0", "f")
    if not keep:
        from prometheus_client import disable_created_metrics

        disable_created_metrics()  # type: ignore[no-untyped-call]


def _warn_ignored(options: dict[str, Any]) -> None:
    """Warn about options that differ from the current set-up's and so cannot take effect."""
    first: dict[str, Any] = STATE.setup_options
    ignored = sorted(
        name
        for name, value in options.items()
        if value is not _DEFAULTS[name]
        and value != _DEFAULTS[name]
        and not (first.get(name) is value or first.get(name) == value)
    )
    if ignored:
        given = ", ".join(f"{name}={options[name]!r}" for name in ignored)
        msg = (
            f"telemetry.setup() was already called; these options were ignored: {given}. "
            "Pass them to the first call (or a different registry for a separate set-up)."
        )
        warnings.warn(msg, SetupOptionsIgnored, stacklevel=3)


def _opt_in_stable_http() -> None:
    """Ask OpenTelemetry's HTTP instrumentations for the stable semantic conventions
    (``http.request.method``, ``http.response.status_code``, ``url.path``...) on spans, the names
    the package's HTTP metric uses. Without it they still write the old ``http.method`` /
    ``http.status_code`` / ``http.target``, and a trace query written from a metric's labels
    finds nothing. A value the user set (``http/dup`` for both, or another list) is kept; the
    instrumentations read it once, when the first of them instruments something.
    """
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")


def _assemble(name: str, instruments: Instruments, tracer_provider: Any, log_levels: Any) -> Telemetry:
    recorder = Recorder(instruments, [MetricsSink(instruments), TraceSink(), LogSink(log_levels)])
    return Telemetry(
        service_name=name,
        registry=instruments.registry,
        instruments=instruments,
        recorder=recorder,
        tracer_provider=_tracer_provider(name, tracer_provider, instruments),
        logger_provider=_logger_provider(name, instruments),
        meter_provider=_meter_provider(name, instruments.registry),
    )


def _used(instruments: Instruments) -> bool:
    """Whether another set-up or the recorder already works with these instruments."""
    return STATE.recorder is not None and getattr(STATE.recorder, "instruments", None) is instruments


def setup(
    *,
    service_name: str | None = None,
    registry: CollectorRegistry | None = None,
    tracer_provider: Any = None,
    label_cap: int = 100,
    log_levels: Mapping[str, LogLevel | str] | None = None,
    configure_logs: bool = False,
    log_level: int | str = logging.INFO,
) -> Telemetry:
    """Set the package up once for this process; later calls return the same object.

    Args:
        service_name: defaults to ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``.
        registry: the Prometheus registry (the default one if ``None``).
        tracer_provider: use this provider instead of the global one.
        label_cap: distinct values per open label before folding into ``_OTHER``.
        log_levels: per-event log level overrides, e.g. ``{"telemetry.retry.scheduled": "debug"}``
            or ``"off"`` to drop that log line (metrics and spans stay).
        configure_logs: also call :func:`telemetry.logging.configure_logging` (JSON lines).
        log_level: the root level when ``configure_logs`` is set.

    Warns:
        SetupOptionsIgnored: on a later call (same or no registry) whose options differ from
            the first call's; the warning names them.
    """
    options = {
        "service_name": service_name,
        "tracer_provider": tracer_provider,
        "label_cap": label_cap,
        "log_levels": log_levels,
        "configure_logs": configure_logs,
        "log_level": log_level,
    }
    with LOCK:
        existing: Telemetry | None = STATE.setup
        if existing is not None and (registry is None or registry is existing.registry):
            _warn_ignored(options)
            return existing
        name = _service_name(service_name)
        _opt_in_stable_http()
        _no_created_series()
        from telemetry.correlation import install_propagator_filter

        install_propagator_filter()  # a crafted tracestate/baggage header must not mean a log line
        # Atomic: the instruments register all-or-nothing (MetricCollisionError names the metric);
        # a later step failing takes them out again, so a retry after the fix starts clean.
        instruments = instruments_for(registry, label_cap=label_cap)
        try:
            made = _assemble(name, instruments, tracer_provider, log_levels)
            if configure_logs:
                from telemetry.logging import configure_logging

                configure_logging(service=name, level=log_level)
        except BaseException:
            if registry is not None and not _used(instruments):
                forget_instruments(instruments)
            raise
        recorder = made.recorder
        STATE.setup, STATE.setup_options, STATE.recorder = made, options, recorder
        return made
