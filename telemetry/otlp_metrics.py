"""OTLP metrics from the same pre-aggregated values ``/metrics`` serves.

Events are counted once, in prometheus-client children (cheap). When OTLP metric export is
asked for, observable OpenTelemetry instruments read those values at each export: counters
become observable counters, gauges observable gauges, with the catalog's OpenTelemetry names,
units and attribute names. Histograms have no observable form in OpenTelemetry; they reach the
collector through its Prometheus receiver scraping ``/metrics`` (see ``collector/agent.yaml``).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from telemetry import catalog
from telemetry.catalog import Kind, MetricSpec

if TYPE_CHECKING:
    from collections.abc import Iterable

    from opentelemetry.metrics import CallbackOptions, Meter, Observation
    from prometheus_client import CollectorRegistry

__all__ = ["RegistrySnapshot", "bridge", "meter_provider"]


class RegistrySnapshot:
    """One ``registry.collect()`` shared by all callbacks of an export cycle."""

    def __init__(self, registry: CollectorRegistry, max_age: float = 1.0) -> None:
        self.registry = registry
        self.max_age = max_age
        self._taken = 0.0
        self._samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        self._lock = threading.Lock()

    def samples(self, name: str) -> list[tuple[dict[str, str], float]]:
        with self._lock:
            now = time.monotonic()
            if now - self._taken > self.max_age:
                fresh: dict[str, list[tuple[dict[str, str], float]]] = {}
                for metric in self.registry.collect():
                    for sample in metric.samples:
                        fresh.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
                self._samples, self._taken = fresh, now
            return self._samples.get(name, [])


def _observations(spec: MetricSpec, snapshot: RegistrySnapshot) -> Iterable[Observation]:
    from opentelemetry.metrics import Observation

    by_prom = {label.prom: label.name for label in spec.labels}
    for labels, value in snapshot.samples(spec.prom):
        yield Observation(value, {by_prom.get(key, key): text for key, text in labels.items()})


def bridge(meter: Meter, registry: CollectorRegistry) -> list[Any]:
    """Create one observable instrument per catalog counter and gauge, reading ``registry``."""
    snapshot = RegistrySnapshot(registry)
    instruments = []
    for spec in catalog.CATALOG:
        if spec.kind is Kind.HISTOGRAM:
            continue

        def callback(_options: CallbackOptions, spec: MetricSpec = spec) -> Iterable[Observation]:
            return list(_observations(spec, snapshot))

        if spec.kind is Kind.COUNTER:
            create: Any = meter.create_observable_counter
        elif spec.kind is Kind.UPDOWN:
            create = meter.create_observable_up_down_counter
        else:
            create = meter.create_observable_gauge
        instruments.append(create(spec.name, callbacks=[callback], unit=spec.unit, description=spec.description))
    return instruments


def meter_provider(resource: Any, registry: CollectorRegistry) -> Any:
    """A meter provider exporting the bridged values over OTLP/HTTP on the SDK's interval."""
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    except ImportError as exc:
        msg = "OTLP metric export needs: pip install 'resilience-telemetry[otlp]'"
        raise ImportError(msg) from exc
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    provider = MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())])
    bridge(provider.get_meter("resilience-telemetry"), registry)
    return provider
