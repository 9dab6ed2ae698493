"""The catalog: names follow the OpenTelemetry-to-Prometheus rules, labels are sane."""

from __future__ import annotations

import re

import pytest

from telemetry import catalog
from telemetry.catalog import Kind, prometheus_name


@pytest.mark.parametrize(
    ("name", "unit", "kind", "expected"),
    [
        ("db.client.connection.count", "{connection}", Kind.UPDOWN, "db_client_connection_count"),
        ("db.client.connection.wait_time", "s", Kind.HISTOGRAM, "db_client_connection_wait_time_seconds"),
        ("db.client.connection.timeouts", "{timeout}", Kind.COUNTER, "db_client_connection_timeouts_total"),
        ("resilience.retry.calls", "{call}", Kind.COUNTER, "resilience_retry_calls_total"),
        ("resilience.circuit.time_in_state", "s", Kind.COUNTER, "resilience_circuit_time_in_state_seconds_total"),
        ("cache.hit", "1", Kind.GAUGE, "cache_hit_ratio"),
        ("request.size", "By", Kind.HISTOGRAM, "request_size_bytes"),
        ("http.server.duration_seconds", "s", Kind.HISTOGRAM, "http_server_duration_seconds"),
        ("jobs.done_total", "{job}", Kind.COUNTER, "jobs_done_total"),
    ],
)
def test_prometheus_name_follows_otel_rules(name: str, unit: str, kind: Kind, expected: str) -> None:
    """Units become words once, annotations are dropped, counters end in _total."""
    assert prometheus_name(name, unit, kind) == expected


def test_catalog_names_are_unique_and_valid() -> None:
    """No two specs render to the same Prometheus name; every name and label is valid."""
    proms = [spec.prom for spec in catalog.CATALOG]
    assert len(proms) == len(set(proms))
    valid = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
    for spec in catalog.CATALOG:
        assert valid.match(spec.prom), spec.name
        assert spec.description.endswith("."), spec.name
        assert len(set(spec.label_names)) == len(spec.label_names), spec.name
        for label in spec.label_names:
            assert valid.match(label) and not label.startswith("__"), (spec.name, label)


def test_conventions_units_and_suffixes() -> None:
    """Counters end in _total, durations are in seconds, histograms have buckets."""
    for spec in catalog.CATALOG:
        if spec.kind is Kind.COUNTER:
            assert spec.prom.endswith("_total"), spec.name
        else:
            assert not spec.prom.endswith("_total"), spec.name
        if spec.kind is Kind.HISTOGRAM:
            assert spec.buckets, spec.name
            assert list(spec.buckets) == sorted(spec.buckets), spec.name
        if spec.unit == "s":
            assert "_seconds" in spec.prom, spec.name


def test_no_identifier_is_a_label() -> None:
    """Correlation, trace and message IDs and exception messages never become labels."""
    forbidden = ("correlation", "trace", "span", "message.id", "message_id", "exception.message", "request_id")
    for spec in catalog.CATALOG:
        for label in spec.labels:
            assert not any(word in label.name for word in forbidden), (spec.name, label.name)


def test_semconv_pool_metrics_are_verbatim() -> None:
    """Pool metrics use the OpenTelemetry semantic-convention names and attribute names."""
    assert catalog.DB_CLIENT_CONNECTION_COUNT.label_names == (
        "db_client_connection_pool_name",
        "db_client_connection_state",
    )
    assert catalog.DB_CLIENT_CONNECTION_COUNT.labels[1].values == ("idle", "used")
    assert {s.name for s in catalog.CATALOG if s.source == "pool"} >= {
        "db.client.connection.count",
        "db.client.connection.max",
        "db.client.connection.pending_requests",
        "db.client.connection.timeouts",
        "db.client.connection.create_time",
        "db.client.connection.wait_time",
        "db.client.connection.use_time",
    }


def test_by_name_finds_both_names_and_rejects_unknown() -> None:
    """Lookups accept the OTel or the Prometheus name; a typo is a clear error."""
    assert catalog.by_name("resilience.retry.calls") is catalog.RETRY_CALLS
    assert catalog.by_name("resilience_retry_calls_total") is catalog.RETRY_CALLS
    with pytest.raises(KeyError, match="not in the metric catalog"):
        catalog.by_name("resilience_retry_call_total")


def test_histogram_series_names() -> None:
    """Histograms expose _bucket, _sum and _count series."""
    assert catalog.RETRY_BACKOFF.series_names == (
        "resilience_retry_backoff_seconds_bucket",
        "resilience_retry_backoff_seconds_sum",
        "resilience_retry_backoff_seconds_count",
    )
