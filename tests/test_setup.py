"""The set-up call: idempotent, OTLP only when the environment asks, exporter outages harmless."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

import telemetry
from telemetry import bootstrap, state
from telemetry.events import RetryScheduled
from tests.conftest import json_from_fresh_process


def test_setup_twice_same_object_no_duplicate_timeseries() -> None:
    """Two set-ups with the same registry never raise 'Duplicated timeseries'."""
    registry = CollectorRegistry()
    first = telemetry.setup(registry=registry, tracer_provider=TracerProvider())
    second = telemetry.setup(registry=registry)
    assert first is second
    state.reset()
    third = telemetry.setup(registry=registry, tracer_provider=TracerProvider())
    assert third.instruments is first.instruments  # one Instruments per registry
    telemetry.record(RetryScheduled(retry_name="twice", attempt=1, delay=0))
    assert registry.get_sample_value("resilience_retry_scheduled_total", {"retry_name": "twice", "error_type": ""}) == 1
    assert registry.get_sample_value("resilience_telemetry_info", {"version": "0.1.0"}) == 1


def test_info_version_comes_from_package_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    """resilience_telemetry_info{version} is the installed distribution's version, not a constant."""
    import importlib.metadata

    asked: list[str] = []

    def version(name: str) -> str:
        asked.append(name)
        return "9.8.7"

    monkeypatch.setattr(importlib.metadata, "version", version)
    registry = CollectorRegistry()
    telemetry.setup(registry=registry, tracer_provider=TracerProvider())
    assert asked == ["resilience-telemetry"]
    assert registry.get_sample_value("resilience_telemetry_info", {"version": "9.8.7"}) == 1


def test_second_setup_warns_naming_the_ignored_options() -> None:
    """A later setup() cannot change the first one's options; it says which ones it ignored."""
    registry = CollectorRegistry()
    first = telemetry.setup(registry=registry, tracer_provider=TracerProvider(), service_name="orders")
    with pytest.warns(bootstrap.SetupOptionsIgnored) as caught:
        second = telemetry.setup(service_name="billing", label_cap=3, log_levels={"telemetry.retry.scheduled": "off"})
    assert second is first
    assert [str(w.message) for w in caught] == [
        (
            "telemetry.setup() was already called; these options were ignored: label_cap=3, "
            "log_levels={'telemetry.retry.scheduled': 'off'}, service_name='billing'. "
            "Pass them to the first call (or a different registry for a separate set-up)."
        )
    ]
    assert caught[0].filename == __file__  # points at the caller's line


def test_second_setup_with_same_or_default_options_is_silent(recwarn: pytest.WarningsRecorder) -> None:
    """Repeating the first call's options, or passing none, is the normal idempotent case: no warning."""
    registry = CollectorRegistry()
    first = telemetry.setup(registry=registry, tracer_provider=TracerProvider(), service_name="orders", label_cap=7)
    assert telemetry.setup(registry=registry, service_name="orders", label_cap=7) is first
    assert telemetry.setup() is first
    assert [str(w.message) for w in recwarn] == []


def test_label_cap_is_honoured_after_recording_before_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    """setup(label_cap=3) applies even when an event recorded earlier created the default recorder."""
    import prometheus_client

    default = CollectorRegistry()
    monkeypatch.setattr(prometheus_client, "REGISTRY", default)  # the "default registry" of this test
    telemetry.record(RetryScheduled(retry_name="early", attempt=1, delay=0))
    telemetry.setup(label_cap=3, tracer_provider=TracerProvider())
    for i in range(5):
        telemetry.record(RetryScheduled(retry_name=f"late-{i}", attempt=1, delay=0))
    names = sorted(
        sample.labels["retry_name"]
        for metric in default.collect()
        for sample in metric.samples
        if sample.name == "resilience_retry_scheduled_total"
    )
    assert names == ["_OTHER", "early", "late-0", "late-1"]
    assert default.get_sample_value("resilience_retry_scheduled_total", {"retry_name": "_OTHER", "error_type": ""}) == 3


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_otlp_enabled_follows_standard_env(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: bool
) -> None:
    """Traces are exported only when an OTLP endpoint is configured and not switched off."""
    for key in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert bootstrap.otlp_enabled("traces") is expected


def test_service_name_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_SERVICE_NAME names the service when the call does not."""
    monkeypatch.setenv("OTEL_SERVICE_NAME", "billing")
    result = telemetry.setup(registry=CollectorRegistry(), tracer_provider=TracerProvider())
    assert result.service_name == "billing"


@pytest.mark.parametrize(
    ("env", "explicit", "expected"),
    [
        # the name given to setup() is the resource's: traces, logs and OTLP metrics carry it
        ({}, "orders", {"service.name": "orders"}),
        ({"OTEL_SERVICE_NAME": "billing"}, None, {"service.name": "billing"}),
        ({"OTEL_SERVICE_NAME": "billing"}, "orders", {"service.name": "orders"}),
        # what the environment says of the resource is kept (the instance becomes `instance`)
        (
            {"OTEL_RESOURCE_ATTRIBUTES": "service.instance.id=app:8000,deployment.environment.name=prod"},
            "orders",
            {"service.name": "orders", "service.instance.id": "app:8000", "deployment.environment.name": "prod"},
        ),
    ],
)
def test_the_resource_names_the_service(env: dict[str, str], explicit: str | None, expected: dict[str, str]) -> None:
    """The tracer provider setup() installs in a fresh process names the service as asked,
    never as the SDK's ``unknown_service``; each process has its own ``service.instance.id``."""
    script = f"""
import json, telemetry
t = telemetry.setup(service_name={explicit!r})
print(json.dumps(dict(t.tracer_provider.resource.attributes)))
"""
    attributes = json_from_fresh_process(script, env)
    assert {key: attributes[key] for key in expected} == expected
    assert attributes["service.instance.id"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_collector_down_does_not_slow_requests() -> None:
    """With the OTLP endpoint on a closed port, requests answer and export is asynchronous."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{_closed_port()}/v1/traces", timeout=1))
    )
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"ok": "yes"}

    telemetry.instrument(app, registry=CollectorRegistry(), tracer_provider=provider)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        started = time.perf_counter()
        statuses = [(await client.get("/ping")).status_code for _ in range(50)]
        elapsed = time.perf_counter() - started
    assert statuses == [200] * 50
    assert elapsed < 5  # generous: a synchronous export would wait on every request
    provider.shutdown()
