"""Prometheus instruments built from the catalog, with pre-bound children for the hot path.

Counting goes through prometheus-client children (about 0.3 us per ``inc()``), not through
the OpenTelemetry metrics API (several microseconds per ``add()``). One :class:`Instruments`
exists per registry, so setting up twice, or once per test, never registers a metric twice.
"""

from __future__ import annotations

import bisect
import importlib.metadata
import os
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry import trace

from telemetry import catalog
from telemetry.catalog import Kind, MetricSpec
from telemetry.labels import LabelGuard

if TYPE_CHECKING:
    from collections.abc import Iterable

    from prometheus_client import CollectorRegistry
    from prometheus_client.registry import Collector

__all__ = [
    "Instruments",
    "LabelNamesError",
    "current_exemplar",
    "family",
    "instruments_for",
    "multiprocess_enabled",
    "package_version",
]

_LOCK = threading.Lock()
_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, Instruments] = weakref.WeakKeyDictionary()


class LabelNamesError(ValueError):
    """Labels passed by name do not match the metric's spec (a programmer error)."""


def package_version() -> str:
    """The installed distribution's version, for ``resilience_telemetry_info{version}``.

    Read from the package metadata so the label follows releases without a constant to bump;
    a source tree that was never installed reports ``unknown``.
    """
    try:
        return importlib.metadata.version("resilience-telemetry")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def multiprocess_enabled() -> bool:
    """prometheus-client's multiprocess mode: no exemplars, no custom collectors per worker."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir"))  # noqa: SIM112 - the legacy name


_last_exemplar: tuple[int, int, dict[str, str]] = (0, 0, {})


def current_exemplar() -> dict[str, str] | None:
    """Trace and span IDs of the current span, for an exemplar; ``None`` outside a trace.

    The last span's rendering is reused: events of one request share it, and hex-formatting
    two IDs per metric update would cost more than the update itself.
    """
    global _last_exemplar  # noqa: PLW0603 - a one-entry cache, replaced atomically
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    trace_id, span_id, rendered = _last_exemplar
    if trace_id != ctx.trace_id or span_id != ctx.span_id:
        rendered = {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}
        _last_exemplar = (ctx.trace_id, ctx.span_id, rendered)
    return rendered


# prometheus-client validates an exemplar's label names and length on every update, which
# costs more than the update. Ours come only from current_exemplar (two fixed names, 48 hex
# digits), so the two helpers below update the child's values directly; where the client's
# internals differ from what they expect, they return False and the public call runs instead.


def _inc_with_exemplar(child: Any, amount: float, exemplar: dict[str, str]) -> bool:
    from prometheus_client.samples import Exemplar

    try:
        value = child._value
        value.inc(amount)
    except AttributeError:
        return False
    value.set_exemplar(Exemplar(exemplar, amount, time.time()))
    return True


def _observe_with_exemplar(child: Any, amount: float, exemplar: dict[str, str]) -> bool:
    from prometheus_client.samples import Exemplar

    try:
        bounds, buckets, total = child._upper_bounds, child._buckets, child._sum
    except AttributeError:
        return False
    total.inc(amount)
    index = bisect.bisect_left(bounds, amount)  # the first bucket with amount <= bound, as observe()
    if index < len(buckets):
        buckets[index].inc(1)
        buckets[index].set_exemplar(Exemplar(exemplar, amount, time.time()))
    return True


def family(spec: MetricSpec, *, labels: Iterable[str] | None = None) -> Any:
    """A fresh metric family for a scrape-time collector, named and labelled from ``spec``.

    Collectors yield these from ``collect()``; using this helper keeps their names in the
    catalog like every other metric.
    """
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    names = list(labels) if labels is not None else list(spec.label_names)
    if spec.kind is Kind.COUNTER:
        return CounterMetricFamily(spec.prom, spec.description, labels=names)
    if spec.kind in (Kind.GAUGE, Kind.UPDOWN):
        return GaugeMetricFamily(spec.prom, spec.description, labels=names)
    msg = f"{spec.name} is a {spec.kind.value}; scrape-time families are counters or gauges"
    raise TypeError(msg)


def _multiprocess_mode(spec: MetricSpec) -> Literal["livesum", "livemax", "max"]:
    """How workers' values combine (see :mod:`telemetry.multiprocess`): live workers only,
    except timestamps, whose newest value must outlive the worker that wrote it."""
    if spec.kind is Kind.UPDOWN:
        return "livesum"
    return "max" if spec.name.endswith("timestamp") else "livemax"


class Instruments:
    """Every event-driven catalog metric, created once in ``registry``.

    Events pass labels by name, as the spec's Prometheus label names
    (``m.inc(catalog.RETRY_SCHEDULED, retry_name=..., error_type=...)``); the names are checked
    against the spec the first time a combination is seen, after which the bound child comes
    from a cache keyed by the call's ``(name, value)`` pairs. ``child(spec, *values)`` with
    values in the spec's label order remains for pre-binding children once at set-up time.
    Open label values pass through the :class:`~telemetry.labels.LabelGuard` first
    (:meth:`admit`).
    """

    def __init__(self, registry: CollectorRegistry, *, label_cap: int = 100, exemplars: bool = True) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.registry = registry
        self.exemplars = exemplars and not multiprocess_enabled()
        self._metrics: dict[MetricSpec, Any] = {}
        self._children: dict[tuple[MetricSpec, tuple[str, ...]], Any] = {}
        self._named: dict[tuple[Any, ...], Any] = {}
        self._collectors: list[Collector] = []
        self._lock = threading.Lock()
        for spec in catalog.CATALOG:
            if spec.scrape_time:
                continue
            names = spec.label_names
            if spec.kind is Kind.COUNTER:
                metric: Any = Counter(spec.prom, spec.description, names, registry=registry)
            elif spec.kind is Kind.HISTOGRAM:
                metric = Histogram(
                    spec.prom,
                    spec.description,
                    names,
                    registry=registry,
                    buckets=spec.buckets or Histogram.DEFAULT_BUCKETS,
                )
            else:
                mode = _multiprocess_mode(spec)
                metric = Gauge(spec.prom, spec.description, names, registry=registry, multiprocess_mode=mode)
            self._metrics[spec] = metric
        self.guard = LabelGuard(label_cap, on_overflow=self._overflowed)
        self.child(catalog.TELEMETRY_INFO, package_version()).set(1)
        self._zero_self_metrics()

    def _zero_self_metrics(self) -> None:
        """The package's own error counters exist at 0 from the start: "no errors" is data."""
        for sink in catalog.BUILTIN_SINKS:
            self.child(catalog.TELEMETRY_SINK_ERRORS, sink)
        signals, reasons = (label.values or () for label in catalog.TELEMETRY_EXPORT_DROPPED.labels)
        for signal in signals:
            for reason in reasons:
                self.child(catalog.TELEMETRY_EXPORT_DROPPED, signal, reason)
        for label in sorted({label.name for spec in catalog.CATALOG for label in spec.labels if label.values is None}):
            self.child(catalog.TELEMETRY_LABEL_OVERFLOWS, label)

    def _overflowed(self, label: str) -> None:
        self.child(catalog.TELEMETRY_LABEL_OVERFLOWS, label).inc()

    def child(self, spec: MetricSpec, /, *values: str, **labels: str) -> Any:
        """The bound child for already admitted label values, cached.

        Pass ``labels`` by Prometheus label name (checked against ``spec``), or ``values`` in
        the spec's label order; not both.
        """
        if labels:
            return self._by_name(spec, labels)
        key = (spec, values)
        found = self._children.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._children.get(key)
            if found is None:
                metric = self._metrics[spec]
                found = metric.labels(*values) if values else metric
                self._children[key] = found
        return found

    def _by_name(self, spec: MetricSpec, labels: dict[str, str]) -> Any:
        """The child for labels by name. The cache key is the call's ``(name, value)`` pairs as
        given (a flat tuple is the cheapest key that still tells names apart), so the names are
        checked against the spec only the first time a combination is seen."""
        found = self._named.get((spec, *labels.items()))
        if found is not None:
            return found
        if sorted(labels) != sorted(spec.label_names):
            msg = f"{spec.prom} takes labels {list(spec.label_names)}, got {list(labels)}"
            raise LabelNamesError(msg)
        found = self.child(spec, *(labels[name] for name in spec.label_names))
        self._named[(spec, *labels.items())] = found
        return found

    def admit(self, label: catalog.Label, value: object) -> str:
        """Bound an open label value; closed-set labels are the caller's constants."""
        return self.guard.admit(label.name, value)

    def inc(self, spec: MetricSpec, /, *values: str, amount: float = 1.0, **labels: str) -> None:
        """Count, with an exemplar linking to the current trace when possible."""
        child = self._by_name(spec, labels) if labels else self.child(spec, *values)
        exemplar = current_exemplar() if self.exemplars else None
        if exemplar is None:
            child.inc(amount)
        elif amount < 0 or not _inc_with_exemplar(child, amount, exemplar):
            child.inc(amount, exemplar)

    def observe(self, spec: MetricSpec, value: float, /, *values: str, **labels: str) -> None:
        """Observe ``value`` in a histogram, with an exemplar when possible."""
        child = self._by_name(spec, labels) if labels else self.child(spec, *values)
        exemplar = current_exemplar() if self.exemplars else None
        if exemplar is None:
            child.observe(value)
        elif value != value or not _observe_with_exemplar(child, value, exemplar):  # noqa: PLR0124 - NaN
            child.observe(value, exemplar)

    def set(self, spec: MetricSpec, value: float, /, *values: str, **labels: str) -> None:
        """Set a gauge."""
        (self._by_name(spec, labels) if labels else self.child(spec, *values)).set(value)

    def register(self, collector: Collector) -> None:
        """Register a scrape-time collector once; registering the same one again is a no-op."""
        with self._lock:
            if any(existing is collector for existing in self._collectors):
                return
            self.registry.register(collector)
            self._collectors.append(collector)

    def unregister(self, collector: Collector) -> None:
        with self._lock:
            if any(existing is collector for existing in self._collectors):
                self.registry.unregister(collector)
                self._collectors = [c for c in self._collectors if c is not collector]


def instruments_for(registry: CollectorRegistry | None = None, *, label_cap: int | None = None) -> Instruments:
    """The one :class:`Instruments` of ``registry`` (the default registry when ``None``).

    ``label_cap`` (default 100 for a new one) also applies to an existing one, so
    ``setup(label_cap=3)`` is honoured after something was recorded into the default
    registry before set-up; values admitted before stay admitted.
    """
    if registry is None:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    with _LOCK:
        found = _BY_REGISTRY.get(registry)
        if found is None:
            found = Instruments(registry, label_cap=100 if label_cap is None else label_cap)
            _BY_REGISTRY[registry] = found
        elif label_cap is not None:
            found.guard.set_cap(label_cap)
        return found
