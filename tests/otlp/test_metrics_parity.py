"""OTLP metrics carry everything ``/metrics`` serves, read from the same values.

The OTLP payloads are the real exporter's, posted to a loopback receiver and decoded with
opentelemetry-proto; ``/metrics`` is the OpenMetrics exposition of the same registry, parsed
with prometheus-client's own parser. Every catalog metric is given values, so every kind,
unit, attribute name, bucket and exemplar is compared.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from examples.drill.stack import free_port, serve_posts, stop_server
from telemetry import catalog
from telemetry.catalog import Kind, MetricSpec
from telemetry.metrics import Instruments, family
from telemetry.otlp_metrics import RegistryExport

if TYPE_CHECKING:
    from collections.abc import Iterator

    from opentelemetry.proto.common.v1.common_pb2 import KeyValue

# Three observations per histogram, in three different buckets of every catalog bucket layout.
OBSERVED = (0.003, 0.2, 7.0)


def _labels(spec: MetricSpec) -> dict[str, str]:
    return {label.prom: (label.values[0] if label.values else "TimeoutError") for label in spec.labels}


class _ScrapeTime:
    """Scrape-time metrics as the package's collectors yield them: families from the catalog."""

    def collect(self) -> Iterator[Any]:
        for spec in catalog.CATALOG:
            if spec.scrape_time:
                metric = family(spec)
                metric.add_metric(list(_labels(spec).values()), 4.0)
                yield metric


def _fill(registry: CollectorRegistry) -> tuple[int, int]:
    """Give every catalog metric a value inside a span (for exemplars); the span's IDs."""
    instruments = Instruments(registry)
    provider = TracerProvider()
    with provider.get_tracer("parity").start_as_current_span("request") as span:
        for spec in catalog.CATALOG:
            if spec.scrape_time:
                continue
            labels = _labels(spec)
            if spec.kind is Kind.COUNTER:
                instruments.inc(spec, amount=3.0, **labels)
            elif spec.kind is Kind.HISTOGRAM:
                for value in OBSERVED:
                    instruments.observe(spec, value, **labels)
            else:
                instruments.set(spec, 2.5, **labels)
        ctx = span.get_span_context()
    registry.register(_ScrapeTime())
    provider.shutdown()
    return ctx.trace_id, ctx.span_id


def _export(registry: CollectorRegistry) -> ExportMetricsServiceRequest:
    bodies: list[bytes] = []
    server = serve_posts(free_port(), lambda _path, body: bodies.append(body), "application/x-protobuf")
    resource = Resource.create({"service.name": "parity", "service.namespace": "shop"})
    exporter = OTLPMetricExporter(endpoint=f"http://127.0.0.1:{server.server_port}/v1/metrics")
    export = RegistryExport(exporter, registry, resource, interval_s=math.inf)
    try:
        assert export.force_flush()
    finally:
        stop_server(server)
    request = ExportMetricsServiceRequest()
    request.ParseFromString(bodies[0])
    return request


def _attrs(pairs: Any) -> dict[str, str]:
    kvs: list[KeyValue] = list(pairs)
    return {kv.key: kv.value.string_value for kv in kvs}


def _scraped(registry: CollectorRegistry) -> dict[str, list[Any]]:
    text = generate_latest(registry).decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def _otel_labels(spec: MetricSpec, labels: dict[str, str]) -> dict[str, str]:
    names = {label.prom: label.name for label in spec.labels}
    return {names[k]: v for k, v in labels.items() if k != "le" and v != ""}


def test_every_catalog_metric_has_the_same_kind_unit_attributes_and_values_over_otlp() -> None:
    """Each catalog metric arrives once, with its OTel name, unit, kind, attribute names and
    the values /metrics shows; histograms with the catalog bounds, per-bucket counts, sum,
    count, cumulative temporality and the exemplars' trace and span IDs."""
    registry = CollectorRegistry()
    trace_id, span_id = _fill(registry)
    request = _export(registry)
    scraped = _scraped(registry)

    [resource_metrics] = request.resource_metrics
    assert _attrs(resource_metrics.resource.attributes)["service.name"] == "parity"
    [scope] = resource_metrics.scope_metrics
    assert scope.scope.name == "resilience-telemetry"
    exported = {metric.name: metric for metric in scope.metrics}
    assert sorted(exported) == sorted(spec.name for spec in catalog.CATALOG)
    assert len(scope.metrics) == len(catalog.CATALOG)  # no metric twice

    for spec in catalog.CATALOG:
        metric = exported[spec.name]
        assert (metric.unit, metric.description) == (spec.unit, spec.description), spec.name
        family_name = spec.prom.removesuffix("_total") if spec.kind is Kind.COUNTER else spec.prom
        samples = scraped[family_name]
        if spec.kind is Kind.HISTOGRAM:
            assert metric.WhichOneof("data") == "histogram", spec.name
            assert metric.histogram.aggregation_temporality == AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
            [point] = metric.histogram.data_points
            assert _attrs(point.attributes) == _otel_labels(spec, _labels(spec)), spec.name
            assert list(point.explicit_bounds) == list(spec.buckets or ()), spec.name
            cumulative = [sum(point.bucket_counts[: i + 1]) for i in range(len(point.bucket_counts))]
            buckets = [s for s in samples if s.name.endswith("_bucket")]
            assert cumulative == [s.value for s in buckets], spec.name
            count = next(s.value for s in samples if s.name.endswith("_count"))
            total = next(s.value for s in samples if s.name.endswith("_sum"))
            assert (point.count, point.sum) == (count, total) == (3, sum(OBSERVED)), spec.name
            assert point.start_time_unix_nano > 0
            assert point.start_time_unix_nano <= point.time_unix_nano
            scraped_exemplars = sorted(
                (s.exemplar.labels["trace_id"], s.exemplar.labels["span_id"], s.exemplar.value)
                for s in buckets
                if s.exemplar
            )
            otlp_exemplars = sorted((e.trace_id.hex(), e.span_id.hex(), e.as_double) for e in point.exemplars)
            assert otlp_exemplars == scraped_exemplars, spec.name
            assert {(t, s) for t, s, _ in otlp_exemplars} == {(format(trace_id, "032x"), format(span_id, "016x"))}
            continue
        if spec.kind is Kind.GAUGE:
            assert metric.WhichOneof("data") == "gauge", spec.name
            points = metric.gauge.data_points
        else:
            assert metric.WhichOneof("data") == "sum", spec.name
            assert metric.sum.is_monotonic is (spec.kind is Kind.COUNTER), spec.name
            assert metric.sum.aggregation_temporality == AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
            points = metric.sum.data_points
        on_metrics = sorted(
            (sorted(_otel_labels(spec, s.labels).items()), s.value) for s in samples if s.name == spec.prom
        )
        over_otlp = sorted((sorted(_attrs(p.attributes).items()), p.as_double) for p in points)
        assert over_otlp == on_metrics, spec.name


def test_http_duration_histogram_is_written_out() -> None:
    """One histogram spelled out literally, so a conversion bug cannot hide behind symmetry."""
    registry = CollectorRegistry()
    instruments = Instruments(registry)
    labels = {
        "http_request_method": "GET",
        "http_route": "/orders",
        "http_response_status_code": "200",
        "url_scheme": "https",
        "error_type": "",
    }
    for value in (0.004, 0.004, 0.09, 3.0):
        instruments.observe(catalog.HTTP_SERVER_REQUEST_DURATION, value, **labels)
    request = _export(registry)
    [metric] = [
        m for m in request.resource_metrics[0].scope_metrics[0].metrics if m.name == "http.server.request.duration"
    ]
    [point] = metric.histogram.data_points
    assert (metric.unit, _attrs(point.attributes)) == (
        "s",
        {
            "http.request.method": "GET",
            "http.route": "/orders",
            "http.response.status_code": "200",
            "url.scheme": "https",
        },
    )
    assert list(point.explicit_bounds) == list(catalog.HTTP_SERVER_REQUEST_DURATION.buckets or ())
    expected = dict.fromkeys(range(len(point.explicit_bounds) + 1), 0)
    for value in (0.004, 0.004, 0.09, 3.0):
        expected[next(i for i, b in enumerate(point.explicit_bounds) if value <= b)] += 1
    assert list(point.bucket_counts) == list(expected.values())
    assert (point.count, round(point.sum, 6)) == (4, 3.098)
    assert not point.HasField("min")
    assert not point.HasField("max")
