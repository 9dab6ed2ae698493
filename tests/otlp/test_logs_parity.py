"""OTLP log records are as rich as the local JSON lines of the same calls.

The records are the real OTLP/HTTP exporter's payloads, posted to a loopback receiver and
decoded with opentelemetry-proto; the local lines are what ``configure_logging`` writes.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from typing import TYPE_CHECKING, Any

import structlog
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from examples.drill.stack import free_port, serve_posts, stop_server
from telemetry.correlation import bound
from telemetry.events import CircuitOpened
from telemetry.logging import configure_logging, unconfigure_logging
from telemetry.metrics import Instruments
from telemetry.otlp_logs import handler
from telemetry.recorder import Recorder

if TYPE_CHECKING:
    from collections.abc import Callable

    from opentelemetry.proto.common.v1.common_pb2 import AnyValue


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def _exported(calls: Callable[[], None]) -> tuple[list[dict[str, Any]], list[Any]]:
    """Run ``calls`` with the JSON lines on a buffer and OTLP logs to a loopback receiver."""
    bodies: list[bytes] = []
    server = serve_posts(free_port(), lambda _path, body: bodies.append(body), "application/x-protobuf")
    provider = LoggerProvider()
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"http://127.0.0.1:{server.server_port}/v1/logs"))
    )
    stream = io.StringIO()
    root = logging.getLogger()
    # Only the two handlers under test: pytest's capture handler would format records first.
    others = list(root.handlers)
    for other in others:
        root.removeHandler(other)
    configure_logging(service="shop", stream=stream, level=logging.INFO)
    otlp = handler(provider, "shop")
    root.addHandler(otlp)
    try:
        calls()
    finally:
        root.removeHandler(otlp)
        for other in others:
            root.addHandler(other)
        unconfigure_logging()
        provider.shutdown()
        stop_server(server)
    records = []
    for body in bodies:
        request = ExportLogsServiceRequest()
        request.ParseFromString(body)
        records += [r for rl in request.resource_logs for sl in rl.scope_logs for r in sl.log_records]
    return [json.loads(line) for line in stream.getvalue().splitlines()], records


def test_otlp_records_carry_every_field_of_the_local_line() -> None:
    """For a structlog event and a stdlib call in the same span: the body is the local line,
    every field of it is an attribute with the same value, and the record's own trace and span
    IDs are the span's."""
    recorder = Recorder(Instruments(CollectorRegistry()))
    tracer_provider = TracerProvider()
    ids: list[tuple[str, str]] = []

    def calls() -> None:
        with (
            bound("cid-parity-1"),
            tracer_provider.get_tracer("parity").start_as_current_span("request") as span,
        ):
            ctx = span.get_span_context()
            ids.append((format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")))
            recorder.record(CircuitOpened(breaker_name="payments", from_state="closed"))
            logging.getLogger("shop.orders").warning(
                "order %s rejected", "o-1", extra={"attempt": 3, "dsn": "postgresql://app:s3cret@db/x"}
            )

    local, records = _exported(calls)
    [(trace_id, span_id)] = ids
    assert [line["event"] for line in local] == ["telemetry.breaker.opened", "order o-1 rejected"]
    assert len(records) == len(local)
    for line, record in zip(local, records, strict=True):
        attributes = {kv.key: _value(kv.value) for kv in record.attributes}
        assert attributes == line
        assert json.loads(record.body.string_value) == line
        assert (record.trace_id.hex(), record.span_id.hex()) == (trace_id, span_id)
    breaker, stdlib = local
    assert breaker == {
        "event": "telemetry.breaker.opened",
        "level": "error",
        "logger": "telemetry",
        "timestamp": breaker["timestamp"],
        "trace_id": trace_id,
        "span_id": span_id,
        "correlation_id": "cid-parity-1",
        "service": "shop",
        "resilience.breaker.name": "payments",
        "resilience.breaker.from_state": "closed",
        "resilience.breaker.state": "open",
    }
    assert stdlib == {
        "event": "order o-1 rejected",
        "level": "warning",
        "logger": "shop.orders",
        "timestamp": stdlib["timestamp"],
        "trace_id": trace_id,
        "span_id": span_id,
        "correlation_id": "cid-parity-1",
        "service": "shop",
        "attempt": 3,
        "dsn": "postgresql://app:***@db/x",
    }


def test_a_record_time_between_two_microseconds_renders_the_same_in_both() -> None:
    """A stdlib record created at 1764590000.1234567 s (not a whole microsecond) has one
    timestamp in the local line and in the OTLP record: both truncate to .123456 (rounding in
    one of them made the parity above fail about one run in five)."""
    record = logging.LogRecord("shop.clock", logging.WARNING, __file__, 1, "tick", None, None)
    record.created = 1764590000.1234567

    local, records = _exported(lambda: logging.getLogger("shop.clock").handle(record))
    [line] = local
    [otlp] = records
    assert line["timestamp"] == "2025-12-01T11:53:20.123456Z"
    assert {kv.key: _value(kv.value) for kv in otlp.attributes}["timestamp"] == "2025-12-01T11:53:20.123456Z"


def test_exporter_diagnostics_stay_local() -> None:
    """OpenTelemetry's own warnings (the exporter's retry messages) and anything logged on an
    export thread reach the local log but are never fed back into the OTLP pipeline."""

    def calls() -> None:
        logging.getLogger("opentelemetry.exporter.otlp.proto.http._log_exporter").warning(
            "Transient error Service Unavailable encountered while exporting logs batch, retrying in 1s."
        )
        worker = threading.Thread(
            target=lambda: logging.getLogger("urllib3.connectionpool").warning("Retrying after connection broken"),
            name="OtelBatchLogRecordProcessor",
        )
        worker.start()
        worker.join()
        structlog.get_logger("shop").info("app.still_exported")

    local, records = _exported(calls)
    assert [line["event"] for line in local] == [
        "Transient error Service Unavailable encountered while exporting logs batch, retrying in 1s.",
        "Retrying after connection broken",
        "app.still_exported",
    ]
    assert [json.loads(r.body.string_value)["event"] for r in records] == ["app.still_exported"]
