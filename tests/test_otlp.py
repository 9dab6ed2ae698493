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
