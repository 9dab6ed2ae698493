"""Prometheus instruments built from the catalog, with pre-bound children for the hot path.

Counting goes through prometheus-client children (about 0.3 us per ``inc()``), not through
the OpenTelemetry metrics API (several microseconds per ``add()``). One :class:`Instruments`
exists per registry, so setting up twice, or once per test, never registers a metric twice.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import importlib.metadata
import os
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Final, Literal

from opentelemetry import trace

from telemetry import catalog
from telemetry.catalog import Kind, MetricSpec
from telemetry.labels import OTHER, LabelGuard

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from prometheus_client import CollectorRegistry
    from prometheus_client.registry import Collector

__all__ = [
    "EXEMPLARS",
    "SERIES_PER_METRIC",
    "SERIES_TOTAL",
    "ExemplarStore",
    "Instruments",
    "LabelNamesError",
    "MetricCollisionError",
    "current_exemplar",
    "family",
    "forget_instruments",
    "instruments_for",
    "multiprocess_enabled",
    "observe_child",
    "one_adder",
    "package_version",
]

# Series budgets (label combinations, not samples): past them new combinations fold into _OTHER.
SERIES_PER_METRIC = 1_000
SERIES_TOTAL = 10_000
_LOCK = threading.Lock()
_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, Instruments] = weakref.WeakKeyDictionary()


class LabelNamesError(ValueError):
    """Labels passed by name do not match the metric's spec (a programmer error)."""


class MetricCollisionError(ValueError):
    """A catalog metric's name is already taken in the registry (the service registered its own)."""


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
    """prometheus-client's multiprocess mode: no exemplars in the files; scrape-time
    collectors reach the files through :class:`telemetry.multiprocess.Publisher`."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir"))  # noqa: SIM112 - the legacy name


_last_exemplar: tuple[int, int, dict[str, str]] = (0, 0, {})


def current_exemplar() -> dict[str, str] | None:
    """Trace and span IDs of the current span, for an exemplar; ``None`` outside a trace.

    The last span's rendering is reused: events of one request share it, and hex-formatting
    two IDs per metric update would cost more than the update itself. Outside a trace the
    lookup ends at the invalid span the API returns, before reading any span context.
    """
    global _last_exemplar  # noqa: PLW0603 - a one-entry cache, replaced atomically
    span = trace.get_current_span()
    if span is trace.INVALID_SPAN:
        return None
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return None
    trace_id, span_id, rendered = _last_exemplar
    if trace_id != ctx.trace_id or span_id != ctx.span_id:
        rendered = {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}
        _last_exemplar = (ctx.trace_id, ctx.span_id, rendered)
    return rendered


# prometheus-client re-checks on every update what a bound child of ours already satisfies
# (that it is bound, and an exemplar's label names and length), which costs as much as the
# update itself. Our children are bound once and our exemplars come only from current_exemplar
# (two fixed names, 48 hex digits), so the helpers below update the child's values directly;
# where the client's internals differ from what they expect, they return False and the public
# call runs instead (tests/test_hot_paths.py holds both paths to the same exposition).


def one_adder(child: Any) -> Callable[[], None]:
    """A call that adds 1 to a bound counter ``child``, for a hot path that counts one thing
    (a breaker's successful calls): the child's value directly, else its public ``inc``."""
    inc = getattr(getattr(child, "_value", None), "inc", None)
    return functools.partial(inc, 1) if callable(inc) else child.inc


def _inc_direct(child: Any, amount: float, exemplar: dict[str, str] | None) -> bool:
    try:
        value = child._value
        value.inc(amount)
    except AttributeError:
        return False
    if exemplar is not None:
        from prometheus_client.samples import Exemplar

        value.set_exemplar(Exemplar(exemplar, amount, time.time()))
    return True


def _observe_direct(child: Any, amount: float, exemplar: dict[str, str] | None) -> bool:
    try:
        bounds, buckets, total = child._upper_bounds, child._buckets, child._sum
    except AttributeError:
        return False
    total.inc(amount)
    index = bisect.bisect_left(bounds, amount)  # the first bucket with amount <= bound, as observe()
    if index < len(buckets):
        buckets[index].inc(1)
        if exemplar is not None:
            from prometheus_client.samples import Exemplar

            buckets[index].set_exemplar(Exemplar(exemplar, amount, time.time()))
    return True


def observe_child(child: Any, value: float, exemplar: dict[str, str] | None = None) -> None:
    """Observe ``value`` in a bound histogram ``child`` (with ``exemplar``, one of
    :func:`current_exemplar`'s): one bucket found by bisection instead of the client's scan."""
    if value != value or not _observe_direct(child, value, exemplar):  # noqa: PLR0124 - NaN
        child.observe(value, exemplar)


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


def _new_metric(spec: MetricSpec) -> Any:
    """The prometheus-client metric for ``spec``, not yet registered anywhere."""
    from prometheus_client import Counter, Gauge, Histogram

    names = spec.label_names
    if spec.kind is Kind.COUNTER:
        return Counter(spec.prom, spec.description, names, registry=None)
    if spec.kind is Kind.HISTOGRAM:
        buckets = spec.buckets or Histogram.DEFAULT_BUCKETS
        return Histogram(spec.prom, spec.description, names, registry=None, buckets=buckets)
    return Gauge(spec.prom, spec.description, names, registry=None, multiprocess_mode=_multiprocess_mode(spec))


# --- multiprocess: exemplars kept per worker --------------------------------------------


class ExemplarStore:
    """This worker's latest exemplar per counter series and histogram bucket.

    prometheus-client's multiprocess files hold no exemplars. Each worker keeps its own latest
    ones here and :func:`telemetry.exposition.render` attaches them to the summed samples of
    the scrape it answers: an exemplar is one example trace, valid whichever worker served it,
    so every OpenMetrics scrape carries the answering worker's links to traces. Bounded by the
    label guard's cardinality times the buckets.
    """

    def __init__(self) -> None:
        self._latest: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}

    def note(self, spec: MetricSpec, values: tuple[str, ...], exemplar: dict[str, str], value: float) -> None:
        from prometheus_client.samples import Exemplar

        labels = list(zip(spec.label_names, values, strict=True))
        if spec.kind is Kind.HISTOGRAM:
            from prometheus_client import Histogram
            from prometheus_client.utils import floatToGoString

            bounds = (*(spec.buckets or Histogram.DEFAULT_BUCKETS), float("inf"))
            labels.append(("le", floatToGoString(next(b for b in bounds if value <= b))))  # type: ignore[no-untyped-call]
            name = f"{spec.prom}_bucket"
        else:
            name = spec.prom if spec.prom.endswith("_total") else f"{spec.prom}_total"
        self._latest[(name, tuple(sorted(labels)))] = Exemplar(exemplar, value, time.time())

    def get(self, name: str, labels: dict[str, str]) -> Any:
        """The exemplar for the sample ``name{labels}``, or ``None``."""
        return self._latest.get((name, tuple(sorted(labels.items()))))

    def clear(self) -> None:
        self._latest.clear()


EXEMPLARS: Final = ExemplarStore()


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

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        label_cap: int = 100,
        exemplars: bool = True,
        series_budget: int = SERIES_PER_METRIC,
        total_budget: int = SERIES_TOTAL,
    ) -> None:
        self.registry = registry
        # --- series budget (issue 15): bounds the product of open labels, not each label alone.
        self.series_budget = _checked_budget(series_budget)
        self.total_budget = _checked_budget(total_budget)
        self._series: dict[MetricSpec, int] = {}
        self._total = 0
        self.exemplars = exemplars
        # Multiprocess: the files hold no exemplars; this worker keeps its latest ones instead.
        self._keep_exemplars = exemplars and multiprocess_enabled()
        self._metrics: dict[MetricSpec, Any] = {}
        self._children: dict[tuple[MetricSpec, tuple[str, ...]], Any] = {}
        self._named: dict[tuple[Any, ...], Any] = {}
        self._collectors: list[Collector] = []
        self._lock = threading.Lock()
        for spec in catalog.CATALOG:
            # A metric without labels is exported (at 0) as soon as it exists: one that belongs to a
            # feature is created at its first use, so a service that never runs an outbox relay
            # exports no heartbeat of 0 for an alert to read as "last poll in 1970".
            if not spec.scrape_time and (spec.labels or spec.source == "self"):
                self._metrics[spec] = _new_metric(spec)
        self._register_all()
        self.guard = LabelGuard(label_cap, on_overflow=self._overflowed)
        self.child(catalog.TELEMETRY_INFO, package_version()).set(1)
        self._zero_self_metrics()

    def _create(self, spec: MetricSpec) -> Any:
        """A feature's labelless metric, created and registered at its first use."""
        metric = _new_metric(spec)
        try:
            self.registry.register(metric)
        except ValueError as exc:
            msg = f"cannot register {spec.prom}: the registry already has a metric of that name ({exc})"
            raise MetricCollisionError(msg) from exc
        return metric

    def _register_all(self) -> None:
        """All catalog metrics or none: a collision unregisters the ones already in and names the metric."""
        done: list[Any] = []
        for spec, metric in self._metrics.items():
            try:
                self.registry.register(metric)
            except ValueError as exc:
                for registered in done:
                    self.registry.unregister(registered)
                msg = (
                    f"cannot register {spec.prom}: the registry already has a metric of that name "
                    f"(registered by the service?); nothing of telemetry's was left registered ({exc})"
                )
                raise MetricCollisionError(msg) from exc
            done.append(metric)

    def unregister_all(self) -> None:
        """Take every metric and collector of these instruments out of the registry."""
        with self._lock:
            for item in [*self._metrics.values(), *self._collectors]:
                with contextlib.suppress(KeyError):
                    self.registry.unregister(item)
            self._collectors = []

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
        return self._bound(spec, values, labels)

    def _bound(self, spec: MetricSpec, values: tuple[str, ...], labels: dict[str, str]) -> Any:
        """:meth:`child` with the arguments as given (``inc``/``observe`` call it on every
        event without re-packing them): the cached child, else :meth:`_new_child`."""
        if labels:
            return self._by_name(spec, labels)
        found = self._children.get((spec, values))
        return found if found is not None else self._new_child(spec, values)

    def _new_child(self, spec: MetricSpec, values: tuple[str, ...]) -> Any:
        """Create (once, under the lock) the child of a first-seen combination, folded into
        ``_OTHER`` past the series budgets."""
        key = (spec, values)
        folded: tuple[str, ...] = ()
        with self._lock:
            found = self._children.get(key)
            if found is None:
                if values and self._over_budget(spec):
                    folded, values = _fold(spec, values)
                    key = (spec, values)
                    found = self._children.get(key)
                if found is None:
                    metric = self._metrics.get(spec)
                    if metric is None:
                        metric = self._metrics[spec] = self._create(spec)
                    found = metric.labels(*values) if values else metric
                    self._children[key] = found
                    self._series[spec] = self._series.get(spec, 0) + 1
                    self._total += 1
        for label in folded:  # outside the lock: counting a fold creates a child too
            self._overflowed(label)
        return found

    def _over_budget(self, spec: MetricSpec) -> bool:
        """Whether a new label combination of ``spec`` would pass the per-metric or the total budget."""
        return self._series.get(spec, 0) >= self.series_budget or self._total >= self.total_budget

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
        values = tuple(labels[name] for name in spec.label_names)
        found = self.child(spec, *values)
        if (spec, values) in self._children:  # a folded combination is not cached under its own names
            self._named[(spec, *labels.items())] = found
        return found

    def admit(self, label: catalog.Label, value: object) -> str:
        """Bound an open label value; closed-set labels are the caller's constants."""
        return self.guard.admit(label.name, value)

    def inc(self, spec: MetricSpec, /, *values: str, amount: float = 1.0, **labels: str) -> None:
        """Count, with an exemplar linking to the current trace when possible."""
        child = self._bound(spec, values, labels)
        exemplar = current_exemplar() if self.exemplars else None
        if amount < 0 or not _inc_direct(child, amount, exemplar):
            child.inc(amount, exemplar)  # the client's own checks (and its error for amount < 0)
        if exemplar is not None and self._keep_exemplars:
            EXEMPLARS.note(spec, values or tuple(labels[name] for name in spec.label_names), exemplar, amount)

    def observe(self, spec: MetricSpec, value: float, /, *values: str, **labels: str) -> None:
        """Observe ``value`` in a histogram, with an exemplar when possible."""
        child = self._bound(spec, values, labels)
        exemplar = current_exemplar() if self.exemplars else None
        observe_child(child, value, exemplar)
        if exemplar is not None and self._keep_exemplars:
            EXEMPLARS.note(spec, values or tuple(labels[name] for name in spec.label_names), exemplar, value)

    def set(self, spec: MetricSpec, value: float, /, *values: str, **labels: str) -> None:
        """Set a gauge."""
        self._bound(spec, values, labels).set(value)

    def register(self, collector: Collector) -> None:
        """Register a scrape-time collector once; registering the same one again is a no-op."""
        with self._lock:
            if any(existing is collector for existing in self._collectors):
                return
            self.registry.register(collector)
            self._collectors.append(collector)
        # --- multiprocess: under several workers a scrape reads only files; write them ---
        if multiprocess_enabled():
            from telemetry import multiprocess

            multiprocess.publish(collector, shared=getattr(collector, "multiprocess_shared", False))

    def unregister(self, collector: Collector) -> None:
        with self._lock:
            if any(existing is collector for existing in self._collectors):
                self.registry.unregister(collector)
                self._collectors = [c for c in self._collectors if c is not collector]
        # --- multiprocess ---
        if multiprocess_enabled():
            from telemetry import multiprocess

            found = multiprocess.publisher()
            if found is not None:
                found.remove(collector)


def _fold(spec: MetricSpec, values: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Past the budget every open label of the combination folds into ``_OTHER`` together
    (closed labels keep their declared value); returns the folded label names and the values."""
    out: list[str] = []
    names: list[str] = []
    for label, value in zip(spec.labels, values, strict=True):
        if label.values is None and value != OTHER:
            out.append(OTHER)
            names.append(label.name)
        else:
            out.append(value)
    return tuple(names), tuple(out)


def _checked_budget(budget: int) -> int:
    if budget < 1:
        msg = f"a series budget must be at least 1, got {budget}"
        raise ValueError(msg)
    return budget


def forget_instruments(instruments: Instruments) -> None:
    """Unregister ``instruments`` and forget them for their registry (a set-up that failed)."""
    instruments.unregister_all()
    with _LOCK:
        if _BY_REGISTRY.get(instruments.registry) is instruments:
            del _BY_REGISTRY[instruments.registry]


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
