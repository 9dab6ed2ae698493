"""OTLP metrics from the same pre-aggregated values ``/metrics`` serves.

Events are counted once, in prometheus-client children (cheap, on the caller's thread). When
OTLP metric export is asked for, a reader converts one ``registry.collect()`` per export into
OpenTelemetry metric data: every catalog metric with its OpenTelemetry name, unit and
attribute names; counters as monotonic cumulative sums, up-down counters as non-monotonic
sums, gauges as gauges, and histograms as explicit-bucket histograms (the catalog's bounds,
per-bucket counts, sum, count, cumulative temporality) with their exemplars' trace and span
IDs. Nothing is observed twice, so the two paths can never disagree, and the export runs on
the SDK's interval (``OTEL_METRIC_EXPORT_INTERVAL``) in a background thread.

OpenTelemetry's API has no observable histogram, which is why the values are not bridged
through instruments: the reader builds the data points itself. Label values that are empty
are left out of the attributes, as Prometheus treats an empty label as an absent one.
Metrics in the registry that are not in the catalog (process collectors, your own) are not
exported here; export them with your own OpenTelemetry instruments.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from telemetry import catalog
from telemetry.catalog import Kind, MetricSpec

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.samples import Sample

__all__ = ["SCOPE", "RegistryExport", "meter_provider", "metrics_data"]

_log = logging.getLogger("telemetry")

SCOPE: Final = "resilience-telemetry"
_CREATED: Final = "_created"
_HISTOGRAM_PARTS: Final = ("_bucket", "_sum", "_count")


@dataclass
class _Series:
    """What one label set of one metric read from the registry."""

    attributes: dict[str, str]
    start_ns: int | None = None
    value: float = 0.0
    count: float = 0.0
    total: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)
    exemplars: list[Any] = field(default_factory=list)


def _specs() -> dict[str, tuple[MetricSpec, str]]:
    """Sample name -> (spec, part): which catalog metric a sample belongs to, and as what."""
    by_sample: dict[str, tuple[MetricSpec, str]] = {}
    for spec in catalog.CATALOG:
        if spec.kind is Kind.HISTOGRAM:
            for part in _HISTOGRAM_PARTS:
                by_sample[spec.prom + part] = (spec, part)
            by_sample[spec.prom + _CREATED] = (spec, _CREATED)
        else:
            by_sample[spec.prom] = (spec, "value")
            if spec.kind is Kind.COUNTER:
                by_sample[spec.prom.removesuffix("_total") + _CREATED] = (spec, _CREATED)
    return by_sample


def _exemplar(sample: Sample, fallback_ns: int) -> Any:
    """The sample's exemplar as an OpenTelemetry one; ``None`` if it names no trace."""
    from opentelemetry.sdk.metrics import Exemplar

    exemplar = sample.exemplar
    if exemplar is None:
        return None
    labels = dict(exemplar.labels)
    try:
        trace_id, span_id = int(labels.pop("trace_id"), 16), int(labels.pop("span_id"), 16)
    except (KeyError, ValueError):
        return None
    at = int(float(exemplar.timestamp) * 1e9) if exemplar.timestamp is not None else fallback_ns
    return Exemplar(labels, exemplar.value, at, span_id=span_id, trace_id=trace_id)


def _read(registry: CollectorRegistry, now_ns: int) -> dict[MetricSpec, dict[tuple[tuple[str, str], ...], _Series]]:
    """Every catalog series in ``registry``, grouped by metric and label set."""
    by_sample = _specs()
    read: dict[MetricSpec, dict[tuple[tuple[str, str], ...], _Series]] = {}
    for family in registry.collect():
        for sample in family.samples:
            found = by_sample.get(sample.name)
            if found is None:
                continue
            spec, part = found
            names = {label.prom: label.name for label in spec.labels}
            attributes = {names.get(k, k): v for k, v in sample.labels.items() if k != "le" and v != ""}
            key = tuple(sorted(attributes.items()))
            series = read.setdefault(spec, {}).setdefault(key, _Series(attributes))
            if part == _CREATED:
                series.start_ns = int(sample.value * 1e9)
                continue
            if part == "_bucket":
                series.buckets[float(sample.labels["le"])] = sample.value
            elif part == "_sum":
                series.total = sample.value
            elif part == "_count":
                series.count = sample.value
            else:
                series.value = sample.value
            if (exemplar := _exemplar(sample, now_ns)) is not None:
                series.exemplars.append(exemplar)
    return read


def _histogram_point(series: _Series, start_ns: int, now_ns: int) -> Any:
    """Prometheus's cumulative ``le`` buckets as OTLP's per-bucket counts."""
    from opentelemetry.sdk.metrics.export import HistogramDataPoint

    bounds = sorted(b for b in series.buckets if not math.isinf(b))
    cumulative = [series.buckets[b] for b in bounds] + [series.buckets.get(math.inf, series.count)]
    counts = [int(c - p) for c, p in zip(cumulative, [0.0, *cumulative[:-1]], strict=True)]
    return HistogramDataPoint(
        attributes=series.attributes,
        start_time_unix_nano=start_ns,
        time_unix_nano=now_ns,
        count=int(series.count),
        sum=series.total,
        bucket_counts=counts,
        explicit_bounds=bounds,
        # Prometheus histograms keep no min and max; None leaves the optional fields unset.
        min=None,  # type: ignore[arg-type]
        max=None,  # type: ignore[arg-type]
        exemplars=series.exemplars,
    )


def _metric(spec: MetricSpec, read: dict[tuple[tuple[str, str], ...], _Series], start_ns: int, now_ns: int) -> Any:
    from opentelemetry.sdk.metrics.export import (
        AggregationTemporality,
        Gauge,
        Histogram,
        Metric,
        NumberDataPoint,
        Sum,
    )

    cumulative = AggregationTemporality.CUMULATIVE
    series = [read[key] for key in sorted(read)]
    data: Any
    if spec.kind is Kind.HISTOGRAM:
        points = [_histogram_point(s, s.start_ns or start_ns, now_ns) for s in series]
        data = Histogram(data_points=points, aggregation_temporality=cumulative)
    else:
        points = [
            NumberDataPoint(
                attributes=s.attributes,
                start_time_unix_nano=s.start_ns or start_ns,
                time_unix_nano=now_ns,
                value=s.value,
                exemplars=s.exemplars,
            )
            for s in series
        ]
        if spec.kind is Kind.GAUGE:
            data = Gauge(data_points=points)
        else:
            data = Sum(data_points=points, aggregation_temporality=cumulative, is_monotonic=spec.kind is Kind.COUNTER)
    return Metric(name=spec.name, description=spec.description, unit=spec.unit, data=data)


def metrics_data(registry: CollectorRegistry, resource: Any, *, start_ns: int, now_ns: int | None = None) -> Any:
    """The OpenTelemetry ``MetricsData`` of every catalog metric in ``registry``, now.

    ``start_ns`` is the start of the cumulative series whose ``_created`` sample is switched
    off (``PROMETHEUS_DISABLE_CREATED_SERIES``): the time export started.
    """
    from importlib.metadata import PackageNotFoundError, version

    from opentelemetry.sdk.metrics.export import MetricsData, ResourceMetrics, ScopeMetrics
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    now = time.time_ns() if now_ns is None else now_ns
    read = _read(registry, now)
    metrics = [_metric(spec, read[spec], start_ns, now) for spec in catalog.CATALOG if read.get(spec)]
    try:
        scope_version = version("resilience-telemetry")
    except PackageNotFoundError:
        scope_version = None
    scope = InstrumentationScope(SCOPE, scope_version)
    scoped = ScopeMetrics(scope=scope, metrics=metrics, schema_url="")
    return MetricsData(resource_metrics=[ResourceMetrics(resource=resource, scope_metrics=[scoped], schema_url="")])


class RegistryExport:
    """Exports ``registry``'s catalog metrics through ``exporter`` every ``interval_s``.

    The SDK's periodic reader collects SDK instruments only (its ``collect`` is final), and
    OpenTelemetry has no observable histogram, so this small loop stands in for it with the
    same contract: the interval from ``OTEL_METRIC_EXPORT_INTERVAL`` (60 s by default), a
    daemon thread, one last export at :meth:`shutdown`, and a restarted thread after a fork
    (pre-forking servers). It quacks like a meter provider for :class:`~telemetry.bootstrap.Telemetry`.
    """

    def __init__(
        self, exporter: Any, registry: CollectorRegistry, resource: Any, interval_s: float | None = None
    ) -> None:
        if interval_s is None:
            try:
                interval_s = float(os.environ.get("OTEL_METRIC_EXPORT_INTERVAL", "60000")) / 1000
            except ValueError:
                interval_s = 60.0
        self.exporter, self.registry, self.resource = exporter, registry, resource
        self.interval_s = interval_s if interval_s > 0 else 60.0
        self.start_ns = time.time_ns()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        if math.isfinite(self.interval_s):
            self._start()
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=self._start)

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="telemetry-otlp-metrics", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.force_flush()

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Export the current values now; ``False`` if the exporter failed (it logs why)."""
        data = metrics_data(self.registry, self.resource, start_ns=self.start_ns)
        if not data.resource_metrics[0].scope_metrics[0].metrics:
            return True
        with self._lock:
            try:
                result = self.exporter.export(data, timeout_millis=timeout_millis)
            except Exception:
                _log.warning("OTLP metric export failed", exc_info=True)
                return False
        return getattr(result, "name", "SUCCESS") == "SUCCESS"

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        """One last export, then stop the loop and the exporter (safe to call twice)."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=timeout_millis / 1000)
        self.force_flush(timeout_millis)
        self.exporter.shutdown()


def meter_provider(resource: Any, registry: CollectorRegistry) -> RegistryExport:
    """The OTLP/HTTP export of the registry's catalog metrics, on the SDK's interval."""
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    except ImportError as exc:
        msg = "OTLP metric export needs: pip install 'resilience-telemetry[otlp]'"
        raise ImportError(msg) from exc
    return RegistryExport(OTLPMetricExporter(), registry, resource)
