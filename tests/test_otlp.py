"""OTLP export: traces, logs and metrics reach a collector when the environment says so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from examples.drill.stack import free_port, serve_posts, stop_server

ROOT = Path(__file__).resolve().parent.parent


def test_environment_turns_on_otlp_for_all_three_signals() -> None:
    """With OTEL_EXPORTER_OTLP_ENDPOINT set, setup() exports traces, logs and metrics there."""
    paths: list[str] = []
    server = serve_posts(free_port(), lambda path, _body: paths.append(path), "application/x-protobuf")
    script = """
import logging
import telemetry
from opentelemetry import trace
from telemetry.events import RetryScheduled
t = telemetry.setup(service_name="orders")
with trace.get_tracer("x").start_as_current_span("op"):
    telemetry.record(RetryScheduled(retry_name="db", attempt=1, delay=0.1))
    logging.getLogger("app").warning("hello")
t.shutdown()
"""
    env = {
        "PATH": "/usr/bin:/bin",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
        "OTEL_METRIC_EXPORT_INTERVAL": "100",
    }
    try:
        subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=60)
    finally:
        stop_server(server)
    assert set(paths) == {"/v1/traces", "/v1/logs", "/v1/metrics"}


def test_no_endpoint_exports_nothing() -> None:
    """Without OTLP variables, nothing is exported and no exporter is created."""
    script = """
import telemetry
t = telemetry.setup(service_name="orders")
print(t.logger_provider, t.meter_provider, len(t.tracer_provider._active_span_processor._span_processors))
"""
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.split() == ["None", "None", "0"]


def test_exported_logs_are_redacted_and_plain() -> None:
    """OTLP log records carry the redacted JSON line and plain attributes only: no DSN
    password, no secret field, no exception message secret, no structlog internals."""
    import json
    import logging

    import structlog
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    from telemetry.otlp_logs import handler

    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger("otlp-redaction-test")
    logger.propagate = False
    logger.addHandler(handler(provider))
    try:
        try:
            raise ConnectionError("cannot reach postgresql://app:s3cret-pw@db/orders")
        except ConnectionError:
            logger.exception("db down", extra={"password": "hunter2", "attempt": 3})
        structlog.stdlib.get_logger("otlp-redaction-test").warning("retry", token="tok-123")  # unconfigured: plain
    finally:
        logger.handlers.clear()
    [first, *_] = exporter.get_finished_logs()
    record = first.log_record
    body = json.loads(str(record.body))
    assert body["event"] == "db down"
    assert body["password"] == "***"
    text = json.dumps({"body": record.body, "attributes": dict(record.attributes or {})})
    for secret in ("s3cret-pw", "hunter2"):
        assert secret not in text
    assert dict(record.attributes or {})["attempt"] == 3
    assert not any(key.startswith("_") for key in record.attributes or {})
    provider.shutdown()


def test_exported_spans_carry_no_credentials_from_any_instrumentation() -> None:
    """What setup() exports over OTLP is scrubbed whoever wrote it: an exception the SDK
    recorded on the service's own span (its message and stack trace quote a DSN), a captured
    authorization header, a status description with a token. The payload is the real OTLP/HTTP
    exporter's, decoded with opentelemetry-proto."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    bodies: list[bytes] = []
    server = serve_posts(
        free_port(), lambda path, body: bodies.append(body) if path == "/v1/traces" else None, "application/x-protobuf"
    )
    script = """
import telemetry
from opentelemetry import trace
from opentelemetry.trace import StatusCode
t = telemetry.setup(service_name="orders")
tracer = trace.get_tracer("app")
try:
    with tracer.start_as_current_span("load order") as span:
        span.set_attribute("http.request.header.authorization", ("Bearer tok-abc123xyz",))
        span.set_attribute("app.note", "retrying postgresql://app:s3cret-pw@db:5432/orders")
        raise ConnectionError("cannot reach postgresql://app:s3cret-pw@db:5432/orders")
except ConnectionError:
    pass
with tracer.start_as_current_span("call s3") as span:
    span.set_status(StatusCode.ERROR, "denied: Authorization: Bearer tok-abc123xyz")
with tracer.start_as_current_span("healthy", attributes={"http.route": "/orders/{id}"}):
    pass
t.shutdown()
"""
    env = {
        "PATH": "/usr/bin:/bin",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
    }
    try:
        subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=60)
    finally:
        stop_server(server)
    spans = {}
    for body in bodies:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                spans.update({span.name: span for span in scope.spans})
    assert set(spans) == {"load order", "call s3", "healthy"}
    everything = b"".join(bodies)
    for secret in (b"s3cret-pw", b"tok-abc123xyz"):
        assert secret not in everything
    load = spans["load order"]
    attributes = {a.key: a.value for a in load.attributes}
    assert attributes["http.request.header.authorization"].string_value == "***"
    assert attributes["app.note"].string_value == "retrying postgresql://app:***@db:5432/orders"
    [event] = load.events
    fields = {a.key: a.value.string_value for a in event.attributes}
    assert event.name == "exception"
    assert fields["exception.type"] == "ConnectionError"
    assert fields["exception.message"] == "cannot reach postgresql://app:***@db:5432/orders"
    assert "ConnectionError: cannot reach postgresql://app:***@db:5432/orders" in fields["exception.stacktrace"]
    assert spans["call s3"].status.message == "denied: Authorization: ***"
    # a span with nothing to scrub is exported as it was
    assert [(a.key, a.value.string_value) for a in spans["healthy"].attributes] == [("http.route", "/orders/{id}")]
